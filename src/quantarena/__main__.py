from quantarena.cli import main

raise SystemExit(main())
