from vault.session.thin import main

raise SystemExit(main())
