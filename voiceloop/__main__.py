from voiceloop.cli import main

raise SystemExit(main())
