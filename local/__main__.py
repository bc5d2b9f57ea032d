from __future__ import annotations

from local.stack import main

raise SystemExit(main())
