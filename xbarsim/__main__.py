from xbarsim.cli.main import main

raise SystemExit(main())
