from tools.changeset.cli import main

raise SystemExit(main())
