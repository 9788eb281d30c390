"""`python -m ials worker` (not built yet)."""


def add_parser(subparsers):
    parser = subparsers.add_parser("worker", help="(not available yet)")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    raise SystemExit("python -m ials worker is not available yet.")
