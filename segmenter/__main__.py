import sys

if sys.argv[1:2] == ["service"]:  # standard library only: runs before the venv exists
    from segmenter.install.cli import main as service_main

    raise SystemExit(service_main(sys.argv[2:]))

from segmenter.cli import main

raise SystemExit(main())
