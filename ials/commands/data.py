"""`python -m ials data list | download | prepare | import | popularity`."""

from __future__ import annotations

import argparse
import sys

from ials import paths


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "data", help="list, download, prepare and import data sets",
        description="Manage the data sets in the data directory.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", default=None,
        help="data directory (default: $IALS_DATA_DIR, else ./data)",
    )
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    actions.add_parser(
        "list", parents=[common], help="show every known data set and its status here",
    ).set_defaults(run=run_list)

    download = actions.add_parser(
        "download", parents=[common], help="download a benchmark data set",
        description="Download a benchmark data set. Interrupted downloads resume.",
    )
    download.add_argument("name", help="data set name (see `python -m ials data list`)")
    download.add_argument(
        "--base-url", default=None,
        help="fetch every file from BASE_URL/FILE instead of its usual host "
             "(default: $IALS_DOWNLOAD_BASE_URL)",
    )
    download.add_argument("--retries", type=int, default=3,
                          help="resumes after an interrupted transfer (default 3)")
    download.add_argument("--force", action="store_true", help="download even if present")
    download.set_defaults(run=run_download)

    prepare = actions.add_parser(
        "prepare", parents=[common], help="build a benchmark split from downloaded files",
        description="Build ml-20m-sg, msd-sg or ml-1m-ncf from the downloaded raw files; "
                    "skipped when the folder is up to date.",
    )
    prepare.add_argument("name", help="ml-20m-sg, msd-sg or ml-1m-ncf")
    prepare.add_argument("--force", action="store_true", help="rebuild even if up to date")
    prepare.add_argument("--popularity", action="store_true",
                         help="afterwards, print the most-popular baseline on the test split")
    prepare.set_defaults(run=run_prepare)

    importer = actions.add_parser(
        "import", parents=[common], help="import your own interaction data",
        description="Import a CSV, TSV or Parquet table (or per-user lists) as a data set.",
    )
    importer.add_argument("path", help="input file (.csv, .tsv, .parquet, optionally .gz)")
    importer.add_argument("--name", required=True,
                          help="data set name: letters, digits, '.', '_', '-'")
    importer.add_argument("--user", default="user", help="user id column (default 'user')")
    importer.add_argument("--item", default="item", help="item id column (default 'item')")
    importer.add_argument("--rating", default=None, help="rating column (optional)")
    importer.add_argument("--timestamp", default=None, help="timestamp column (optional)")
    importer.add_argument("--rating-threshold", type=float, default=None,
                          help="keep rows with rating ≥ this value")
    importer.add_argument("--min-user", type=int, default=1,
                          help="k-core: minimum interactions per user (default 1 = off)")
    importer.add_argument("--min-item", type=int, default=1,
                          help="k-core: minimum interactions per item (default 1 = off)")
    importer.add_argument("--test-file", default=None,
                          help="test file of a predefined split (same format as PATH)")
    importer.add_argument("--format", choices=("table", "per-user-lists"), default="table",
                          help="'table' (default) or 'per-user-lists' (user item item ...)")
    importer.add_argument("--sep", default=None,
                          help="field separator of a text table (default: guessed)")
    importer.add_argument("--no-header", action="store_true",
                          help="the table has no header; columns are 0-based positions")
    importer.add_argument("--description", default="", help="one line for listings")
    importer.add_argument("--overwrite", action="store_true",
                          help="replace an existing data set of that name")
    importer.set_defaults(run=run_import)

    popularity = actions.add_parser(
        "popularity", parents=[common], help="print the most-popular baseline's metrics",
        description="Score the most-popular baseline on a data set's test split.",
    )
    popularity.add_argument("name", help="data set name")
    popularity.add_argument("--protocol", default=None,
                            help="evaluation protocol (default: the data set's own)")
    popularity.add_argument("--split", choices=("test", "validation"), default="test",
                            help="which split's evaluation task to score (default test)")
    popularity.set_defaults(run=run_popularity)
    return parser


def run(args) -> int:
    return args.run(args)


def run_list(args) -> int:
    from ials.data.download import format_bytes, list_catalog

    rows = list_catalog(args.data_dir)
    print(f"data directory: {paths.data_dir(args.data_dir)}")
    width = max(len(row["name"]) for row in rows)
    print(f"{'NAME':<{width}}  {'STATUS':<10}  {'SIZE':>9}  DESCRIPTION")
    for row in rows:
        size = format_bytes(row["size_bytes"]) if row["size_bytes"] else "-"
        detail = f" [{row['detail']}]" if row["detail"] else ""
        print(f"{row['name']:<{width}}  {row['status']:<10}  {size:>9}  "
              f"{row['description']}{detail}")
    return 0


def run_download(args) -> int:
    from ials.data.download import DownloadError, download

    bar = _ProgressBar()
    try:
        result = download(args.name, args.data_dir, base_url=args.base_url,
                          progress=bar.update, retries=args.retries, force=args.force)
    except KeyError as error:
        return _fail(error.args[0])
    except DownloadError as error:
        return _fail(str(error))
    finally:
        bar.close()
    if result.skipped:
        print(f"{args.name} is already in {result.folder}")
        return 0
    for file_name, record in result.files.items():
        note = "checksum verified" if record["checksum_verified"] else "no known checksum; recorded"
        print(f"{result.folder / file_name}  sha256 {record['sha256']}  ({note})")
    return 0


def run_prepare(args) -> int:
    from ials.data.preprocess import PrepareError, prepare

    bar = _ProgressBar(unit="step")
    try:
        result = prepare(args.name, args.data_dir, progress=bar.update, force=args.force)
    except KeyError as error:
        return _fail(error.args[0])
    except (PrepareError, ValueError) as error:
        return _fail(str(error))
    finally:
        bar.close()
    state = "already up to date" if result.skipped else "written"
    print(f"{args.name}: {state} in {result.folder}")
    for key, value in result.counts.items():
        print(f"  {key}: {value:,}" if isinstance(value, int) else f"  {key}: {value}")
    if args.popularity:
        return _print_popularity(args.name, None, "test", args.data_dir)
    return 0


def run_import(args) -> int:
    from ials.data.importer import DataImportError, ImportOptions, import_dataset
    from ials.data.readers import DataFormatError

    def column(value):
        if value is None or not args.no_header:
            return value
        if not value.isdigit():
            raise DataImportError(
                f"with --no-header, columns are 0-based positions; got {value!r}."
            )
        return int(value)

    try:
        options = ImportOptions(
            user=column(args.user), item=column(args.item), rating=column(args.rating),
            timestamp=column(args.timestamp), rating_threshold=args.rating_threshold,
            min_user=args.min_user, min_item=args.min_item, sep=args.sep,
            header=not args.no_header, format=args.format,
        )
        result = import_dataset(
            args.path, args.name, options, test_path=args.test_file,
            data_dir=args.data_dir, description=args.description, overwrite=args.overwrite,
        )
    except (DataImportError, DataFormatError, FileNotFoundError, ValueError) as error:
        return _fail(str(error))
    print(f"imported {args.name} into {result.folder} ({result.manifest['format']})")
    print(format_statistics(result.statistics))
    return 0


def run_popularity(args) -> int:
    return _print_popularity(args.name, args.protocol, args.split, args.data_dir)


def _print_popularity(name, protocol, split, data_dir) -> int:
    from ials.data.preprocess import popularity_metrics

    try:
        metrics, info = popularity_metrics(name, protocol=protocol, split=split,
                                           data_dir=data_dir)
    except ValueError as error:
        return _fail(str(error))
    values = ", ".join(f"{key} {value:.4f}" for key, value in metrics.items())
    print(f"most popular on {name} ({info['protocol']}, {split} split, "
          f"{info['evaluated_users']:,} users): {values}")
    return 0


def format_statistics(statistics: dict) -> str:
    """Render `ials.data.importer.summarize` output as a few lines of text."""
    lines = [
        f"  users: {statistics['users']:,}",
        f"  items: {statistics['items']:,}",
        f"  interactions: {statistics['interactions']:,}",
        f"  density: {statistics['density']:.4%}",
    ]
    per_user = statistics.get("per_user") or {}
    if per_user:
        lines.append(
            "  interactions per user: min {min}, median {median:g}, mean {mean:.1f}, "
            "p90 {p90:g}, max {max}".format(**per_user)
        )
    return "\n".join(lines)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


class _ProgressBar:
    """tqdm bar fed by ``progress(stage, done, total)`` callbacks; one bar per stage."""

    def __init__(self, unit: str = "B"):
        self.unit = unit
        self.bar = None
        self.stage = None

    def update(self, stage: str, done: int, total: int | None) -> None:
        from tqdm import tqdm

        base_stage = stage.removesuffix(" done")
        if self.unit == "B" and base_stage != self.stage:
            self.close()
        if self.bar is None:
            self.bar = tqdm(total=total, unit=self.unit, unit_scale=self.unit == "B",
                            file=sys.stderr, leave=False)
        self.stage = base_stage
        self.bar.set_description(base_stage, refresh=False)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
