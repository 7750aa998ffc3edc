from tools.api.cli import main

raise SystemExit(main())
