"""``python -m tabstudy.models.distributed --job JOB``: one worker process (:mod:`.worker`)."""

from tabstudy.models.distributed.worker import main

raise SystemExit(main())
