from xbarsim.cli import main

raise SystemExit(main())
