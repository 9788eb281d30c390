"""Sweeps: the list of sweeps and the form that launches a new one.

Kinds: an α₀ × λ grid (optionally over ν and seeds), a dimension ladder, normalized λ*
across ν, and seed repeats of one run. The form can be pre-filled from an advice item of
the sweep page (``st.session_state["sweep_prefill"]``).
"""

from __future__ import annotations

import streamlit as st

from ials import sweeps, views
from ials.config import SOLVERS, SPLITS, IALSConfig, RunSpec
from ials.paths import data_dir
from pages import _common as common

common.route_through_app()

SWEEP_PAGE = "pages/sweep.py"
PREFILL_KEY = "sweep_prefill"
FORM_PREFIX = "sweep_form_"
KINDS = {
    "grid": "Grid over α₀ × λ",
    "ladder": "Dimension ladder",
    "nu": "Normalized λ* across ν",
    "repeat": "Seed repeats",
}
#: How many sweeps the list shows, newest first.
LIST_LIMIT = 50


def key(name: str) -> str:
    return FORM_PREFIX + name


def apply_prefill() -> bool:
    """Copy a pending pre-fill (from an advice button) into the form's widget state."""
    prefill = st.session_state.pop(PREFILL_KEY, None)
    if prefill is None:
        if key("kind") not in st.session_state:
            load_defaults(sweeps.form_defaults())
        return False
    load_defaults(prefill)
    return True


def load_defaults(values: dict) -> None:
    for name, value in values.items():
        st.session_state[key(name)] = value
    if values.get("protocol") is None:
        st.session_state[key("protocol")] = "default"


@st.cache_data(show_spinner=False, ttl=600)
def cached_datasets(directory: str) -> dict:
    """Return the `ials.data.DatasetInfo` of every data set in ``directory`` by name."""
    return {info.name: info for info in views.list_datasets(directory)}


def fill_log_grid(target: str, low_key: str, high_key: str, n_key: str) -> None:
    """Button callback: write `log_grid` values into the grid text field ``target``."""
    try:
        values = sweeps.log_grid(st.session_state[high_key], st.session_state[low_key],
                                 int(st.session_state[n_key]))
    except ValueError as error:
        st.session_state[key("grid_error")] = str(error)
        return
    st.session_state[key(target)] = sweeps.format_grid(values)


def grid_field(name: str, label: str, help_text: str) -> None:
    st.text_input(label, key=key(name), help=help_text)
    with st.popover(f"Log-spaced {label.split(' ')[0]} values", icon=":material/linear_scale:"):
        columns = st.columns(3)
        columns[0].number_input("from", min_value=1e-8, value=0.001, format="%.2e", key=key(f"{name}_low"))
        columns[1].number_input("to", min_value=1e-8, value=1.0, format="%.2e", key=key(f"{name}_high"))
        columns[2].number_input("values", min_value=2, max_value=20, value=6, key=key(f"{name}_n"))
        st.button("Fill", key=key(f"{name}_fill"), on_click=fill_log_grid,
                  args=(name, key(f"{name}_low"), key(f"{name}_high"), key(f"{name}_n")))


def fixed_settings() -> None:
    """Data set and settings that stay fixed across the sweep's runs."""
    infos = cached_datasets(str(data_dir().resolve()))
    names = list(infos)
    if st.session_state.get(key("dataset")) not in names and names:
        st.session_state[key("dataset")] = names[0]
    columns = st.columns(4)
    name = columns[0].selectbox("Data set", names, key=key("dataset"))
    info = infos.get(name)
    protocols = ["default", *info.protocols] if info else ["default"]
    # A protocol chosen (or pre-filled) for another data set falls back to this one's default.
    if st.session_state.get(key("protocol")) not in protocols:
        st.session_state[key("protocol")] = "default"
    columns[1].selectbox(
        "Protocol", protocols, key=key("protocol"),
        format_func=lambda p: f"default ({info.default_protocol})" if p == "default" and info else p,
        help=views.HELP["protocol"],
    )
    columns[2].selectbox("Split evaluated every epoch", list(SPLITS), key=key("split"))
    columns[3].number_input("Split seed", min_value=0, step=1, key=key("split_seed"))

    columns = st.columns(4)
    kind = st.session_state[key("kind")]
    if kind != "ladder":
        columns[0].number_input("Embedding dimension d", min_value=1, step=1, key=key("dim"))
    columns[1].number_input(
        "Epochs", min_value=1, step=1, key=key("epochs"),
        help=f"{sweeps.BROAD_SEARCH_EPOCHS} during a broad search halves the cost; "
             f"{sweeps.FINAL_SEARCH_EPOCHS} for the final search.",
    )
    columns[2].selectbox("Solver", list(SOLVERS), key=key("solver"))
    columns[3].number_input("Block size b", min_value=1, step=1, key=key("block_size"))

    columns = st.columns(4)
    columns[0].number_input("CG steps", min_value=1, step=1, key=key("cg_steps"))
    columns[1].number_input("Init scale σ*", min_value=1e-6, format="%.3g", key=key("sigma"))
    columns[2].checkbox("Normalized λ (λ*)", key=key("normalized_reg"), disabled=kind == "nu")
    columns[3].selectbox("Reference exponent ν*", [0, 1], key=key("nu_ref"))


def swept_settings(kind: str) -> None:
    if kind == "grid":
        grid_field("alpha0s", "α₀ values", "Unobserved weights α₀ > 0, separated by commas.")
        grid_field("regs", "λ values", "Regularizations λ > 0 (λ* with normalized λ).")
        st.text_input("ν values", key=key("nus"), help="Frequency exponents ν ≥ 0; 1 is frequency-scaled.")
        st.number_input("Seeds per cell", min_value=1, max_value=20, step=1, key=key("seeds"),
                        help="2 or more measures the noise of the metric.")
    elif kind == "ladder":
        st.text_input("Embedding dimensions d", key=key("dims"),
                      help=f"From d = {sweeps.BLOCK_SOLVER_MIN_DIM} on, the exact solver switches "
                           f"to the block solver with b = {sweeps.LADDER_BLOCK_SIZE}.")
        columns = st.columns(2)
        columns[0].number_input("α₀", min_value=1e-8, format="%.2e", key=key("alpha0"))
        columns[1].text_input("λ values (re-tuned at every d)", key=key("regs"))
        st.text_input("ν values", key=key("nus"))
        st.number_input("Seeds per cell", min_value=1, max_value=20, step=1, key=key("seeds"))
    elif kind == "nu":
        st.caption("Runs every ν with every λ* on the normalized scale; the sweep page plots "
                   "quality against λ* (good values line up across ν) next to the effective λ.")
        st.number_input("α₀", min_value=1e-8, format="%.2e", key=key("alpha0"))
        grid_field("regs", "λ* values", "Regularizations on the normalized scale.")
        st.text_input("ν values", key=key("nus"))
        st.number_input("Seeds per cell", min_value=1, max_value=20, step=1, key=key("seeds"))
    else:
        runs = common.store().list_runs(status="finished")
        labels = {run["id"]: f"{views.run_title(run)} · {run['id']}" for run in runs}
        current = st.session_state.get(key("repeat_run_id"))
        if current and current not in labels:
            labels[current] = current
        st.selectbox("Run to repeat", list(labels), format_func=labels.get, key=key("repeat_run_id"),
                     index=None, placeholder="Choose a finished run")
        st.number_input("Seeds in total (the run counts as one)", min_value=2, max_value=20, step=1,
                        key=key("n_seeds"))


def base_spec() -> RunSpec:
    value = st.session_state.get
    protocol = value(key("protocol"))
    model = IALSConfig(
        dim=int(value(key("dim"))), alpha0=float(value(key("alpha0"))), reg=float(value(key("reg"))),
        normalized_reg=bool(value(key("normalized_reg"))), nu_ref=int(value(key("nu_ref"))),
        sigma=float(value(key("sigma"))), epochs=int(value(key("epochs"))),
        solver=value(key("solver")), block_size=int(value(key("block_size"))),
        cg_steps=int(value(key("cg_steps"))),
    )
    return RunSpec(
        dataset=value(key("dataset")), protocol=None if protocol == "default" else protocol,
        split=value(key("split")), split_seed=int(value(key("split_seed"))), model=model,
    ).validate()


def launch(kind: str) -> str:
    """Queue the sweep the form describes; return its id (ValueError on invalid input)."""
    store = common.store()
    value = st.session_state.get
    name = value(key("name")) or None
    seeds = int(value(key("seeds")))
    session = common.session_id()
    if kind == "repeat":
        run_id = value(key("repeat_run_id"))
        if not run_id:
            raise ValueError("choose the run to repeat.")
        return sweeps.launch_repeats(store, run_id, int(value(key("n_seeds"))), name=name,
                                     session_id=session)
    spec = base_spec()
    nus = sweeps.parse_grid(value(key("nus")), "ν values", positive=False)
    if kind == "grid":
        return sweeps.launch_sweep(
            store, spec, sweeps.parse_grid(value(key("alpha0s")), "α₀ values"),
            sweeps.parse_grid(value(key("regs")), "λ values"), nus, seeds, name=name,
            session_id=session,
        )
    if kind == "ladder":
        regs_text = str(value(key("regs")) or "").strip()
        regs = sweeps.parse_grid(regs_text, "λ values") if regs_text else None
        spec = RunSpec.from_dict({**spec.to_dict(), "model": {**spec.model.to_dict(), "nu": nus[0]}})
        return sweeps.launch_ladder(
            store, spec, sweeps.parse_int_list(value(key("dims")), "embedding dimensions d"),
            regs, seeds, name=name, session_id=session,
        )
    return sweeps.launch_nu_comparison(
        store, spec, sweeps.parse_grid(value(key("regs")), "λ* values"), nus, seeds, name=name,
        session_id=session,
    )


def show_form(prefilled: bool) -> None:
    st.subheader("New sweep")
    if prefilled:
        st.info("Pre-filled from the advice of a sweep. Check the values, then launch.",
                icon=":material/lightbulb:")
    kind = st.segmented_control("Kind", list(KINDS), format_func=KINDS.get, key=key("kind"))
    if kind is None:
        st.session_state[key("kind")] = kind = "grid"
    fixed_settings()
    swept_settings(kind)
    error = st.session_state.pop(key("grid_error"), None)
    if error:
        st.error(error)
    st.text_input("Name (optional)", key=key("name"))
    disabled = common.read_only()
    if st.button("Launch sweep", type="primary", icon=":material/rocket_launch:",
                 disabled=disabled, key=key("launch")):
        sweep_id = None
        with common.show_errors("Launching the sweep"):
            sweep_id = launch(kind)
        if sweep_id:
            common.start_workers()
            st.switch_page(SWEEP_PAGE, query_params={"sweep": sweep_id})


def show_list() -> None:
    store = common.store()
    all_sweeps = store.list_sweeps()[:LIST_LIMIT]
    st.subheader("Launched sweeps")
    if not all_sweeps:
        st.info("No sweeps yet. Launch one below.")
        return
    for sweep in all_sweeps:
        progress = sweeps.progress_of([store.get_run(run_id) or {} for run_id in sweep["run_ids"]])
        columns = st.columns([4, 3, 3])
        columns[0].page_link(SWEEP_PAGE, label=sweep.get("name") or sweep["id"],
                             query_params={"sweep": sweep["id"]}, icon=":material/grid_on:")
        columns[1].caption(f"{KINDS.get(sweep['kind'], sweep['kind'])} · {sweep['id']}")
        columns[2].progress(progress.done / progress.total if progress.total else 0.0,
                            text=f"{progress.done} / {progress.total} runs done")


st.title("Sweeps")
with common.show_errors("Loading the sweep form"):
    prefilled = apply_prefill()
    if prefilled:
        show_form(prefilled)
        st.divider()
        show_list()
    else:
        show_list()
        st.divider()
        show_form(prefilled)
