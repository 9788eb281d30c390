"""Start a run: pick a data set and protocol, set the hyperparameters, launch."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ials import views
from ials.config import SOLVERS, IALSConfig, RunSpec, check_memory
from ials.paths import data_dir
from pages import _common as common

common.route_through_app()

DEFAULTS = IALSConfig()
#: Display format of α₀, λ and σ*: values span orders of magnitude, so scientific.
SCIENTIFIC = "%.2e"


@st.cache_data(show_spinner=False, ttl=600)
def cached_datasets(directory: str) -> list:
    return views.list_datasets(directory)


@st.cache_data(show_spinner="Reading the data set to count its training matrix…", ttl=600)
def cached_counts(name: str, protocol: str, split: str, split_seed: int, directory: str):
    return views.training_counts(name, protocol, split, split_seed, directory)


def checked(name: str, value: Any, errors: dict[str, str]) -> Any:
    """Validate one field, show its message right below it and collect it in ``errors``."""
    message = views.field_error(name, value)
    if message:
        errors[name] = message
        st.error(message, icon=":material/error:")
    return value


def choose_data() -> dict[str, Any]:
    directory = str(data_dir().resolve())
    infos = {info.name: info for info in cached_datasets(directory)}
    names = list(infos)
    default = names.index("synthetic") if "synthetic" in names else 0
    left, middle, right = st.columns([2, 2, 1])
    name = left.selectbox("Data set", names, index=default, help=views.HELP["dataset"])
    info = infos[name]
    if info.description:
        left.caption(info.description)
    protocols = list(info.protocols)
    protocol = middle.selectbox(
        "Protocol", protocols, index=protocols.index(info.default_protocol),
        format_func=lambda p: f"{p} (default)" if p == info.default_protocol else p,
        help=views.HELP["protocol"], key=f"protocol-{name}",
    )
    split = right.radio("Evaluate on", ["validation", "test"], help=views.HELP["split"])
    return {"dataset": name, "protocol": protocol, "split": split, "directory": directory}


#: Session-state keys of the λ inputs: one per scale, so λ and λ* keep their own values.
REG_KEYS = {False: "reg-plain", True: "reg-normalized"}


def convert_reg_on_toggle(counts) -> None:
    """Convert the λ field when the normalized-λ toggle flips, keeping the effective λ.

    Runs as the toggle's ``on_change`` callback, before the rerun draws the widgets, so
    it may set the session state of the λ input that the rerun shows.
    """
    state = st.session_state
    normalized = bool(state["normalized-reg"])
    source_key, target_key = REG_KEYS[not normalized], REG_KEYS[normalized]
    state.pop("reg-conversion", None)
    if counts is None or source_key not in state:
        return
    alpha0 = state.get("alpha0", DEFAULTS.alpha0)
    nu = state.get("nu", DEFAULTS.nu)
    nu_ref = state.get("nu-ref", DEFAULTS.nu_ref)
    source = state[source_key]
    try:
        if normalized:
            converted = views.reg_star_for(source, counts.n_users, counts.n_items, counts.nnz,
                                           alpha0, nu, nu_ref)
        else:
            converted = views.effective_reg(
                {"alpha0": alpha0, "reg": source, "nu": nu, "normalized_reg": True,
                 "nu_ref": nu_ref},
                counts.n_users, counts.n_items, counts.nnz,
            )
    except ValueError:
        converted = None
    if converted is None:
        return  # an invalid α₀, λ or ν is reported next to its field
    state[target_key] = converted
    if normalized:
        state["reg-conversion"] = (f"Converted λ = {source:.3e} to λ* = {converted:.3e} "
                                   f"(ν* = {nu_ref}), so the effective λ is unchanged.")
    else:
        state["reg-conversion"] = (f"Converted λ* = {source:.3e} to its effective "
                                   f"λ = {converted:.3e}.")


def choose_regularization(errors: dict[str, str], counts) -> dict[str, Any]:
    """α₀, λ (or λ* with ν*) and ν, with the effective λ next to them."""
    values: dict[str, Any] = {}

    switch, reference = st.columns([1, 3])
    normalized = switch.toggle("Normalized λ", value=False, help=views.HELP["normalized_reg"],
                               key="normalized-reg", on_change=convert_reg_on_toggle,
                               args=(counts,))
    values["normalized_reg"] = normalized
    if normalized:
        values["nu_ref"] = reference.radio("Reference exponent ν*", [0, 1],
                                           index=DEFAULTS.nu_ref, horizontal=True,
                                           help=views.HELP["nu_ref"], key="nu-ref")

    columns = st.columns(4)
    with columns[0]:
        values["alpha0"] = checked("alpha0", st.number_input(
            "Unobserved weight α₀", value=DEFAULTS.alpha0, format=SCIENTIFIC,
            step=DEFAULTS.alpha0 / 10, help=views.HELP["alpha0"], key="alpha0",
        ), errors)
    with columns[1]:
        # The toggle's callback converts between the two keys' values.
        key = REG_KEYS[normalized]
        label = "Normalized λ*" if normalized else "Regularization λ"
        st.session_state.setdefault(key, DEFAULTS.reg)
        values["reg"] = checked("reg", st.number_input(
            label, format=SCIENTIFIC, step=DEFAULTS.reg / 10, help=views.HELP["reg"], key=key,
        ), errors)
        conversion = st.session_state.pop("reg-conversion", None)
        if conversion:
            st.caption(conversion)
    with columns[2]:
        values["nu"] = checked("nu", st.number_input(
            "Frequency exponent ν", value=DEFAULTS.nu, step=0.25, format="%.2f",
            help=views.HELP["nu"], key="nu",
        ), errors)
    with columns[3]:
        show_effective_reg(values, counts)
    return values


def show_effective_reg(values: dict[str, Any], counts) -> None:
    if counts is None:
        st.caption("Effective λ: unknown until the data set can be read.")
        return
    reg = views.effective_reg(values, counts.n_users, counts.n_items, counts.nnz)
    st.metric("Effective λ", "—" if reg is None else f"{reg:.3e}",
              help="The λ the solver uses on this data set's training matrix.")
    st.caption(f"training matrix: {counts.n_users:,} users × {counts.n_items:,} items, "
               f"{counts.nnz:,} interactions")


def choose_model(errors: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    columns = st.columns(4)
    with columns[0]:
        values["dim"] = checked("dim", int(st.number_input(
            "Embedding dimension d", value=DEFAULTS.dim, step=16, help=views.HELP["dim"],
        )), errors)
    with columns[1]:
        values["epochs"] = checked("epochs", int(st.number_input(
            "Epochs", value=DEFAULTS.epochs, step=1, help=views.HELP["epochs"],
        )), errors)
    with columns[2]:
        values["sigma"] = checked("sigma", st.number_input(
            "Init scale σ*", value=DEFAULTS.sigma, format=SCIENTIFIC, step=DEFAULTS.sigma / 10,
            help=views.HELP["sigma"],
        ), errors)
    with columns[3]:
        values["seed"] = checked("seed", int(st.number_input(
            "Seed", value=DEFAULTS.seed, step=1, help=views.HELP["seed"],
        )), errors)
    columns = st.columns(4)
    with columns[0]:
        values["solver"] = st.selectbox("Solver", SOLVERS, help=views.HELP["solver"])
    with columns[1]:
        if values["solver"] == "block":
            values["block_size"] = checked("block_size", int(st.number_input(
                "Block size b", value=DEFAULTS.block_size, step=16,
                help=views.HELP["block_size"],
            )), errors)
        elif values["solver"] == "cg":
            values["cg_steps"] = checked("cg_steps", int(st.number_input(
                "CG steps", value=DEFAULTS.cg_steps, step=1, help=views.HELP["cg_steps"],
            )), errors)
    return values


def check_resources(spec: RunSpec, counts, errors: dict[str, str]) -> None:
    """Show the memory estimate and the demo caps; add their failures to ``errors``."""
    if counts is not None:
        try:
            need = check_memory(spec.model, counts.n_users, counts.n_items, counts.nnz)
            st.caption(f"Estimated memory of this run: {need / 2**20:,.0f} MiB.")
        except MemoryError as error:
            errors["memory"] = str(error)
            st.error(str(error))
    current = common.limits()
    if current is not None and (current.enabled or current.read_only):
        from ials.limits import LimitError, check_new_run

        try:
            check_new_run(spec.to_dict(), common.session_id(), common.store(), limits=current)
        except LimitError as error:
            errors["limits"] = str(error)
            st.error(str(error))


def launch(spec: RunSpec, name: str) -> None:
    store = common.store()
    run_id = store.create_run(spec.to_dict(), name=name.strip() or None,
                              session_id=common.session_id())
    common.start_workers()
    st.switch_page(common.RUN_PAGE, query_params={"run": run_id})


def read_counts(data: dict[str, Any]):
    """Return the training-matrix counts of the chosen data set, or None with a warning."""
    try:
        # The split seed widget sits further down; its value from the last rerun is
        # in session state.
        return cached_counts(data["dataset"], data["protocol"], data["split"],
                             int(st.session_state.get("split_seed", 0)), data["directory"])
    except Exception as error:  # noqa: BLE001 - any reading failure is shown, not raised
        st.warning(f"Could not read data set {data['dataset']!r} to count its training "
                   f"matrix: {error}")
        return None


def build_spec(data: dict[str, Any], model: dict[str, Any], split_seed: int, counts,
               errors: dict[str, str]) -> RunSpec | None:
    """Check the whole spec and the resources it needs; None while anything is invalid."""
    if errors:
        return None
    spec_values = {"dataset": data["dataset"], "protocol": data["protocol"],
                   "split": data["split"], "split_seed": split_seed, "model": model}
    whole = views.field_errors(spec_values)
    if whole:
        errors.update(whole)
        for message in whole.values():
            st.error(message)
        return None
    spec = RunSpec.from_dict(spec_values)
    check_resources(spec, counts, errors)
    return spec


def show_launch(spec: RunSpec | None, name: str, errors: dict[str, str]) -> None:
    locked = common.read_only()
    if locked:
        st.info("This server is read-only, so new runs cannot be launched.")
    if errors:
        st.caption(f"Fix the {len(errors)} invalid setting(s) above to launch.")
    if st.button("Launch", type="primary", icon=":material/play_arrow:",
                 disabled=bool(errors) or locked or spec is None):
        with common.show_errors("Launching the run"):
            launch(spec, name)


def main() -> None:
    st.title("New run")
    errors: dict[str, str] = {}
    data = choose_data()
    counts = read_counts(data)

    st.subheader("Loss and regularization")
    model = choose_regularization(errors, counts)
    st.subheader("Model and solver")
    model.update(choose_model(errors))

    with st.expander("More settings"):
        split_seed = checked("split_seed", int(st.number_input(
            "Split seed", value=0, step=1, help=views.HELP["split_seed"], key="split_seed",
        )), errors)
        model["dtype"] = st.selectbox("Float type", ["float32", "float64"],
                                      help="Precision of the embeddings and solves.")
    name = st.text_input("Run name (optional)", help=views.HELP["name"])

    spec = build_spec(data, model, split_seed, counts, errors)
    show_launch(spec, name, errors)


with common.show_errors("Showing the new-run form"):
    main()
