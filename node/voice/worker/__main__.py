"""``python -m alertnode.voice.worker``: one voice worker process (started by the supervisor)."""

from alertnode.voice.worker.main import main

main()
