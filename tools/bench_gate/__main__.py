from tools.bench_gate.cli import main

raise SystemExit(main())
