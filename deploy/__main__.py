"""``python deploy -i IN -o OUT -m MODEL``: the entry point ``monai-deploy package`` runs in the MAP."""

import sys

from runtime import ensure_runtime

if __name__ == "__main__":
    ensure_runtime()
    from app import main

    sys.exit(main())
