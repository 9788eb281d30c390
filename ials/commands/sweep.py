"""`python -m ials sweep` (not built yet)."""


def add_parser(subparsers):
    parser = subparsers.add_parser("sweep", help="(not available yet)")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    raise SystemExit("python -m ials sweep is not available yet.")
