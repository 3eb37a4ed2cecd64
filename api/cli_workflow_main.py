"""`python -m api.cli_workflow_main ...` runs the command line (used where no console script is on PATH)."""
from api.cli import main

if __name__ == "__main__":
    main()
