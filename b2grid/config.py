"""The grid configuration (``cluster.yaml``), validated once, at the edge.

:func:`load_config` reads a YAML file into a frozen :class:`GridConfig` or raises one
:class:`~b2grid.errors.ConfigError` naming the file, the field path and the problem
(``cluster.yaml: sites[3].storage.capacity: '50 GG' is not a size like '50 GB'``).
Nothing inside b2grid reads configuration files; code below the façade receives the
validated records it needs.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from b2grid.errors import ConfigError, did_you_mean

SiteKind = Literal["raw_data_centre", "grid"]

# --------------------------------------------------------------------------- sizes

_UNITS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "PB": 10**15,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
    "PIB": 2**50,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*$")


def parse_size(value: object) -> int:
    """Parse ``'50 GB'``, ``'1.5 TiB'``, ``'500MB'`` or a byte count into bytes.

    Examples
    --------
    >>> parse_size("50 GB"), parse_size("2 KiB"), parse_size(17)
    (50000000000, 2048, 17)
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size like '50 GB'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value!r} is not a size like '50 GB' (it is negative)")
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            unit = (match.group(2) or "B").upper()
            if unit in _UNITS:
                # Decimal, not float: byte counts above 2**53 stay exact
                return int(Decimal(match.group(1)) * _UNITS[unit])
    raise ValueError(
        f"{value!r} is not a size like '50 GB' (units: B, KB, MB, GB, TB, PB, "
        "KiB, MiB, GiB, TiB, PiB)"
    )


def format_size(nbytes: float) -> str:
    """Human-readable decimal size: ``format_size(5e10) == '50.0 GB'``."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(nbytes) < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError("unreachable")


Size = Annotated[int, BeforeValidator(parse_size)]

# --------------------------------------------------------------------------- models

_SITE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
_DASHBOARD = re.compile(
    r"^(?:(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]*):)?(?P<port>\d{1,5})$"
)
_SCHEDULER = re.compile(r"^(tcp|tls|inproc|ws|wss)://[^\s/:]+(:\d{1,5})?/?$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageConfig(_Model):
    """A site's storage element: where its files live and how much they may take."""

    #: fsspec URL of the SE root; ``{home}`` is replaced by the grid home
    url: str
    #: bytes the SE may hold
    capacity: Size
    #: preference among SEs with room when rules place copies (Rucio's RSE weight)
    weight: float = Field(default=1.0, gt=0)

    @field_validator("url")
    @classmethod
    def _known_protocol(cls, url: str) -> str:
        import fsspec

        if "://" not in url:
            raise ValueError(
                f"{url!r} has no fsspec protocol; write it as a URL such as "
                f"'file://{{home}}/se/SITE' or 's3://bucket/path'"
            )
        protocol = url.split("://", 1)[0]
        known = fsspec.available_protocols()
        if protocol not in known:
            raise ValueError(
                f"{url!r}: unknown fsspec protocol {protocol!r}"
                f"{did_you_mean(protocol, known)}; common ones: file, s3, gs, root, "
                "http, sftp"
            )
        return url

    def resolved_url(self, home: Path) -> str:
        """The SE URL with ``{home}`` replaced by the grid home."""
        return self.url.replace("{home}", str(home))


class SiteConfig(_Model):
    """One computing site: its job slots (Dask worker threads) and storage element."""

    name: str
    kind: SiteKind
    #: ISO 3166 two-letter country code
    country: str
    #: concurrent jobs the site runs (the Dask resource ``site-NAME``)
    slots: int
    storage: StorageConfig

    @field_validator("name")
    @classmethod
    def _good_name(cls, name: str) -> str:
        if not _SITE_NAME.match(name):
            raise ValueError(
                f"{name!r} is not a site name: use a letter then up to 31 letters, "
                "digits, '_' or '-' (e.g. 'KEK', 'GridKa')"
            )
        return name

    @field_validator("country")
    @classmethod
    def _country(cls, country: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{2}", country):
            raise ValueError(f"{country!r} is not a two-letter country code like 'JP'")
        return country.upper()

    @field_validator("slots", mode="before")
    @classmethod
    def _positive_slots(cls, slots: object) -> object:
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError(
                f"{slots!r} is not a number of job slots; give a whole number >= 1"
            )
        return slots


class RolesConfig(_Model):
    """Which sites play the central roles of Belle II data production."""

    #: where the detector writes RAW (KEK)
    data_taking: str = "KEK"
    #: prompt calibration centre (BNL)
    prompt_calibration: str = "BNL"
    #: official (reprocessing) calibration centre (DESY)
    official_calibration: str = "DESY"


class CopiesConfig(_Model):
    """Replicas kept by rule, per data kind."""

    raw: int = Field(default=2, ge=1)
    cdst: int = Field(default=1, ge=1)
    mdst: int = Field(default=2, ge=1)
    udst: int = Field(default=2, ge=1)
    mc: int = Field(default=2, ge=1)


class UserOutputConfig(_Model):
    """What happens to users' job outputs."""

    copies: int = Field(default=2, ge=1)
    lifetime_days: int = Field(default=90, ge=1)


class PoliciesConfig(_Model):
    """Grid-wide policies that later parts of b2grid read."""

    copies: CopiesConfig = CopiesConfig()
    user_output: UserOutputConfig = UserOutputConfig()
    #: files per datablock (``subNN``)
    datablock_size: int = Field(default=1000, ge=1)
    #: attempts after the first before a job is left Failed
    reschedule_cap: int = Field(default=3, ge=0)
    #: when no site holds all of a job's inputs: wait for a replica, or read remotely
    remote_input: Literal["wait_for_replica", "read_remote"] = "wait_for_replica"


def dashboard_address(address: str) -> str:
    """The address the dashboard listens on: loopback unless a host is named.

    Distributed takes a bare ``:PORT`` as every interface; b2grid takes it (and
    ``PORT``) as ``127.0.0.1:PORT``, so that the dashboard is exposed only when
    asked (``0.0.0.0:8787``). A malformed address raises ``ValueError``, which
    :func:`load_config` reports as a :class:`~b2grid.errors.ConfigError`.

    Examples
    --------
    >>> dashboard_address(":8787"), dashboard_address("0.0.0.0:8787")
    ('127.0.0.1:8787', '0.0.0.0:8787')
    """
    match = _DASHBOARD.match(address.strip())
    if match is None or int(match["port"]) > 65535:
        raise ValueError(
            f"{address!r} is not a dashboard address like '127.0.0.1:8787' "
            "(':8787' is loopback too; '0.0.0.0:8787' exposes it on every "
            "interface; port 0 takes any free one; null turns it off)"
        )
    return f"{match['host'] or '127.0.0.1'}:{match['port']}"


class RuntimeConfig(_Model):
    """How the embedded grid runs its Dask workers."""

    #: ``threads``: all site workers in one process; ``processes``: one per worker
    workers: Literal["threads", "processes"] = "threads"
    #: Dask dashboard address ``HOST:PORT`` (port 0: any free one) or null; a bare
    #: ``:PORT`` is loopback, ``0.0.0.0:PORT`` exposes it on every interface
    dashboard: str | None = "127.0.0.1:8787"
    #: memory limit of each worker
    memory_limit: Size = 2 * 2**30
    #: how job payloads are confined (:mod:`b2grid.jobs.sandbox`): ``auto``
    #: (namespaces where the kernel allows them, else a process of their own),
    #: ``namespaces`` (required: refuse to run payloads without them) or
    #: ``process`` (never namespaces)
    sandbox: Literal["auto", "namespaces", "process"] = "auto"
    #: resident memory one job may use before its monitor ends it
    job_memory: Size = 2 * 2**30
    #: a job is ended after this many times its ``cpu_seconds`` of wall-clock time,
    job_wall_factor: float = Field(default=10.0, gt=0)
    #: but never before this many seconds
    job_min_wall_seconds: float = Field(default=600.0, gt=0)

    def job_wall_seconds(self, cpu_seconds: float) -> float:
        """The wall-clock limit of a job that asked for ``cpu_seconds``."""
        return max(self.job_min_wall_seconds, self.job_wall_factor * cpu_seconds)

    @field_validator("dashboard")
    @classmethod
    def _dashboard(cls, address: str | None) -> str | None:
        return None if address is None else dashboard_address(address)


class GridConfig(_Model):
    """A whole grid: its home, its scheduler, its policies and its sites."""

    #: grid home: catalog, embedded SE folders, run files; relative to the config file
    home: Path = Path("~/.b2grid")
    #: ``local`` (embedded LocalCluster) or the address of a running Dask scheduler
    scheduler: str = "local"
    runtime: RuntimeConfig = RuntimeConfig()
    roles: RolesConfig = RolesConfig()
    policies: PoliciesConfig = PoliciesConfig()
    sites: tuple[SiteConfig, ...]
    #: file the configuration came from (set by :func:`load_config`)
    source: str = "<config>"

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, address: str) -> str:
        if address != "local" and not _SCHEDULER.match(address):
            raise ValueError(
                f"{address!r} is neither 'local' nor a scheduler address like "
                "'tcp://host:8786'"
            )
        return address

    @field_validator("sites")
    @classmethod
    def _some_sites(cls, sites: tuple[SiteConfig, ...]) -> tuple[SiteConfig, ...]:
        if not sites:
            raise ValueError("no sites; declare at least one site")
        return sites

    @property
    def embedded(self) -> bool:
        """True when b2grid starts its own Dask cluster."""
        return self.scheduler == "local"

    @property
    def site_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sites)

    def site(self, name: str) -> SiteConfig:
        """The site called ``name``; :class:`~b2grid.errors.UnknownSite` otherwise."""
        for s in self.sites:
            if s.name == name:
                return s
        from b2grid.errors import UnknownSite

        raise UnknownSite(name, self.site_names)


# --------------------------------------------------------------------------- loading


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys (PyYAML keeps the last silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} "
                f"(first at line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _path_of(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problem(error: Mapping[str, Any], fields: Mapping[str, Any]) -> str:
    kind = error["type"]
    message = str(error["msg"])
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        return f"unknown key {key!r}{did_you_mean(key, fields)}; known keys: " + (
            ", ".join(fields)
        )
    if kind == "missing":
        return "missing; this field is required"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if kind == "literal_error":
        return f"{error['input']!r} is not allowed; {message[0].lower()}{message[1:]}"
    return f"{error['input']!r}: {message[0].lower()}{message[1:]}"


def _fields_at(loc: tuple[int | str, ...]) -> Mapping[str, Any]:
    """The field names of the model that owns the last part of ``loc``."""
    model: Any = GridConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            break
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        inner = args[0] if args else annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            model = inner
    return {k: v for k, v in model.model_fields.items() if k != "source"}


def _consistency(cfg: GridConfig) -> list[tuple[str, str]]:
    """Cross-field problems pydantic cannot see field by field."""
    problems: list[tuple[str, str]] = []
    first: dict[str, int] = {}
    for i, site in enumerate(cfg.sites):
        if site.name in first:
            problems.append(
                (
                    f"sites[{i}].name",
                    f"duplicate site name {site.name!r} "
                    f"(also sites[{first[site.name]}]); "
                    "site names must be unique",
                )
            )
        else:
            first[site.name] = i
    by_name = {s.name: s for s in cfg.sites}
    for role in ("data_taking", "prompt_calibration", "official_calibration"):
        name = getattr(cfg.roles, role)
        declared = by_name.get(name)
        if declared is None:
            problems.append(
                (
                    f"roles.{role}",
                    f"{name!r} is not a declared site{did_you_mean(name, by_name)}; "
                    f"known sites: {', '.join(by_name)}",
                )
            )
        elif declared.kind != "raw_data_centre":
            problems.append(
                (
                    f"roles.{role}",
                    f"{name!r} is a {declared.kind} site; it must be a raw_data_centre",
                )
            )
    n_raw = sum(s.kind == "raw_data_centre" for s in cfg.sites)
    if cfg.policies.copies.raw > n_raw:
        problems.append(
            (
                "policies.copies.raw",
                f"{cfg.policies.copies.raw} copies of RAW need as many raw data "
                f"centres, "
                f"but only {n_raw} are declared",
            )
        )
    for what in ("mdst", "udst", "mc", "cdst"):
        copies = getattr(cfg.policies.copies, what)
        if copies > len(cfg.sites):
            problems.append(
                (
                    f"policies.copies.{what}",
                    f"{copies} copies need as many sites, but only {len(cfg.sites)} "
                    "are declared",
                )
            )
    if cfg.policies.user_output.copies > len(cfg.sites):
        problems.append(
            (
                "policies.user_output.copies",
                f"{cfg.policies.user_output.copies} copies need as many sites, "
                f"but only "
                f"{len(cfg.sites)} are declared",
            )
        )
    return problems


def parse_config(
    data: object, file: str = "<config>", base: Path | None = None
) -> GridConfig:
    """Validate already-parsed configuration data into a :class:`GridConfig`.

    ``file`` names the source in error messages; a relative ``home`` is taken
    relative to ``base`` (the config file's folder; the current folder if None).
    Raises :class:`~b2grid.errors.ConfigError` naming the first problem found.
    """
    if data is None:
        raise ConfigError(file, "", "the file is empty; see the shipped cluster.yaml")
    if not isinstance(data, dict):
        raise ConfigError(
            file,
            "",
            f"expected a mapping of keys (home, sites, ...), got {type(data).__name__}",
        )
    data = {**data, "source": file}
    try:
        cfg = GridConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        err = errors[0]
        loc = tuple(err["loc"])
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ConfigError(
            file, _path_of(loc), _problem(err, _fields_at(loc)) + more
        ) from None
    problems = _consistency(cfg)
    if problems:
        path, problem = problems[0]
        more = (
            f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        )
        raise ConfigError(file, path, problem + more)
    home = Path(os.path.expandvars(str(cfg.home))).expanduser()
    if not home.is_absolute():
        home = (base or Path.cwd()) / home
    return cfg.model_copy(update={"home": home.resolve()})


def load_config(path: str | os.PathLike[str]) -> GridConfig:
    """Read and validate a ``cluster.yaml``.

    Raises :class:`~b2grid.errors.ConfigError` for a missing or unreadable file,
    malformed YAML, or invalid content, naming the file and the field at fault.
    """
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            file,
            "",
            "no such file; pass --config FILE, set B2GRID_CONFIG, or write the default "
            "one with `b2grid config init`",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, "", f"cannot be read ({exc})") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(file, "", f"{where}not valid YAML ({problem})") from None
    return parse_config(data, file, base=path.resolve().parent)


def default_config_path() -> Path:
    """The configuration to use when none is named.

    In order: ``$B2GRID_CONFIG``; ``./cluster.yaml``; the default shipped with b2grid.
    """
    env = os.environ.get("B2GRID_CONFIG")
    if env:
        return Path(env)
    here = Path("cluster.yaml")
    if here.exists():
        return here
    return shipped_config_path()


def shipped_config_path() -> Path:
    """The embedded default grid shipped inside the package."""
    return Path(__file__).with_name("cluster.yaml")


def probe_scheduler(address: str, timeout: float = 3.0) -> str | None:
    """None when a TCP connection to scheduler ``address`` opens, else the reason."""
    if not _SCHEDULER.match(address):
        return "not an address like 'tcp://host:8786'"
    parts = urlsplit(address)
    host, port = parts.hostname or "", parts.port or 8786
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return (exc.strerror or type(exc).__name__).lower()


def check_scheduler(cfg: GridConfig, timeout: float = 3.0) -> None:
    """Raise :class:`ConfigError` if a configured external scheduler does not answer.

    Only opens (and closes) a TCP connection; an embedded grid always passes.
    """
    if cfg.embedded:
        return
    reason = probe_scheduler(cfg.scheduler, timeout)
    if reason is not None:
        raise ConfigError(
            cfg.source,
            "scheduler",
            f"{cfg.scheduler} is unreachable ({reason}); start the scheduler "
            "(`dask scheduler`) or fix the address",
        )


__all__ = [
    "CopiesConfig",
    "GridConfig",
    "PoliciesConfig",
    "RolesConfig",
    "RuntimeConfig",
    "SiteConfig",
    "SiteKind",
    "StorageConfig",
    "UserOutputConfig",
    "check_scheduler",
    "dashboard_address",
    "default_config_path",
    "format_size",
    "load_config",
    "parse_config",
    "parse_size",
    "probe_scheduler",
    "shipped_config_path",
]
