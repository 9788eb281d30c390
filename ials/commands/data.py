"""`python -m ials data` (not built yet)."""


def add_parser(subparsers):
    parser = subparsers.add_parser("data", help="(not available yet)")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    raise SystemExit("python -m ials data is not available yet.")
