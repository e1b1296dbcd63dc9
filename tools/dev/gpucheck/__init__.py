"""The engine of ``tools/dev/gpu_check.sh`` (the acceptance check for a lent GPU): ``checks.py``
runs the checks and writes the report; it runs as a script, by the shell command."""
