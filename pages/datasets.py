"""Data sets: status of every known data set, downloads, preparation and import of own data."""

from __future__ import annotations

import tempfile

import plotly.express as px
import streamlit as st

from ials.data import download as downloads
from ials.data import importer, preprocess
from ials.paths import data_dir
from pages import _common as common

common.route_through_app()

st.title("Data sets")
root = data_dir()
st.caption(f"Data directory: `{root.resolve()}` (set `IALS_DATA_DIR` to change it).")
locked = common.read_only()
if locked:
    st.info("This server is read-only: data sets can be listed but not downloaded, "
            "prepared or imported.", icon=":material/lock:")


def progress_callback(bar):
    """Return a ``progress(stage, done, total)`` callback that drives ``bar``."""
    def update(stage: str, done: int, total: int | None) -> None:
        if total:
            bar.progress(min(done / total, 1.0), text=f"{stage}: {done:,} of {total:,}")
        else:
            bar.progress(0.0, text=f"{stage}: {done:,}")
    return update


# --- status table ---------------------------------------------------------------------

with common.show_errors("Listing the data sets"):
    rows = downloads.list_catalog(root)
    st.dataframe(
        [{
            "name": row["name"], "status": row["status"],
            "size": downloads.format_bytes(row["size_bytes"]) if row["size_bytes"] else "",
            "description": row["description"], "note": row["detail"],
        } for row in rows],
        hide_index=True, width="stretch",
        # The note tells how to get a missing data set, so it comes before the long text.
        column_order=["name", "status", "size", "note", "description"],
        column_config={
            "status": st.column_config.TextColumn(width="small"),
            "size": st.column_config.TextColumn(width="small"),
            "note": st.column_config.TextColumn(width="medium"),
            "description": st.column_config.TextColumn(width="large"),
        },
    )

# --- download and prepare -------------------------------------------------------------

left, right = st.columns(2)
with left:
    st.subheader("Download")
    name = st.selectbox("Benchmark data set", list(downloads.KNOWN_DATASETS), key="download_name")
    entry = downloads.KNOWN_DATASETS[name]
    st.caption(f"{entry.description}. About {entry.approx_mb:g} MB from {entry.homepage}.")
    if st.button("Download", disabled=locked, key="download_button"):
        bar = st.progress(0.0, text="connecting")
        with common.show_errors(f"Downloading {name}"):
            result = downloads.download(name, root, progress=progress_callback(bar))
            bar.progress(1.0, text="done")
            if result.skipped:
                st.success(f"{name} is already in {result.folder}.")
            else:
                st.success(f"Downloaded {name} into {result.folder}.")

with right:
    st.subheader("Prepare")
    prepared = st.selectbox("Benchmark split", list(downloads.PREPARED_DATASETS),
                            key="prepare_name")
    st.caption(downloads.PREPARED_DATASETS[prepared].description)
    if st.button("Prepare", disabled=locked, key="prepare_button"):
        bar = st.progress(0.0, text="starting")
        with common.show_errors(f"Preparing {prepared}"):
            result = preprocess.prepare(prepared, root, progress=progress_callback(bar))
            bar.progress(1.0, text="done")
            state = "was already up to date" if result.skipped else "is ready"
            st.success(f"{prepared} {state}: " + ", ".join(
                f"{key} {value:,}" for key, value in result.counts.items()
                if key in ("users", "items", "interactions")
            ))

# --- import own data ------------------------------------------------------------------

st.subheader("Import your own data")
limits = common.limits()
cap_text = (f"Files up to {limits.max_upload_mb} MB on this server."
            if limits is not None and limits.enabled else "")
st.caption("CSV, TSV or Parquet with one row per interaction, or per-user lists "
           "(`user item item ...` per line). " + cap_text)
data_format = st.radio("Format", importer.FORMATS, horizontal=True, key="import_format")
upload = st.file_uploader("Interactions (or the training file of a predefined split)",
                          key="import_file")
test_upload = st.file_uploader("Test file of a predefined split (optional)",
                               key="import_test_file")

if upload is not None:
    with common.show_errors("Reading the upload"), tempfile.TemporaryDirectory() as folder:
        from ials.limits import check_upload_size

        check_upload_size(upload.size, limits=limits)
        if test_upload is not None:
            check_upload_size(test_upload.size, limits=limits)
        path = importer.save_upload(upload.name, upload.getvalue(), folder)
        test_path = (importer.save_upload("test-" + test_upload.name, test_upload.getvalue(),
                                          folder) if test_upload is not None else None)

        options = importer.ImportOptions(format=data_format)
        if data_format == "table":
            columns = importer.table_columns(path)
            pick = st.columns(4)
            options.user = pick[0].selectbox("User column", columns, index=0)
            options.item = pick[1].selectbox("Item column", columns,
                                             index=min(1, len(columns) - 1))
            optional = [None, *columns]
            options.rating = pick[2].selectbox("Rating column", optional,
                                               format_func=lambda c: "none" if c is None else c)
            options.timestamp = pick[3].selectbox("Timestamp column", optional,
                                                  format_func=lambda c: "none" if c is None else c)
            if options.rating is not None and st.checkbox("Keep only ratings ≥ a threshold"):
                options.rating_threshold = st.number_input("Rating threshold", value=4.0)
        core = st.columns(2)
        options.min_user = int(core[0].number_input(
            "Minimum interactions per user (k-core)", min_value=1, value=1, step=1))
        options.min_item = int(core[1].number_input(
            "Minimum interactions per item (k-core)", min_value=1, value=1, step=1))

        summary = importer.preview(path, options)
        st.markdown("**Statistics**")
        stats = st.columns(2)
        stats[0].caption("As read (after the rating threshold)")
        stats[0].json(summary.before, expanded=False)
        stats[1].caption("After the k-core filter")
        stats[1].json(summary.after, expanded=False)
        figure = px.histogram(x=summary.per_user_before, nbins=50, log_y=True,
                              labels={"x": "interactions per user", "y": "users"},
                              title="Interactions per user before import")
        st.plotly_chart(figure, width="stretch", key="per_user_histogram")

        name = st.text_input("Data set name", placeholder="my-clicks", key="import_name")
        overwrite = st.checkbox("Replace an existing data set of that name", key="import_overwrite")
        if st.button("Import", disabled=locked or not name, key="import_button"):
            result = importer.import_dataset(path, name, options, test_path=test_path,
                                             data_dir=root, overwrite=overwrite)
            st.success(f"Imported {name} ({result.manifest['format']}) into {result.folder}: "
                       f"{result.statistics['users']:,} users, "
                       f"{result.statistics['items']:,} items, "
                       f"{result.statistics['interactions']:,} interactions.")
