"""MSigDB collections, downloaded through :mod:`mgtranscript.fetch`."""

from __future__ import annotations

from ..errors import AccessionNotFound, GeneSetError
from ._sets import GeneSets
from ._formats import read_gmt

__all__ = ["MSIGDB_COLLECTIONS", "msigdb"]

#: MSigDB names accepted by :func:`msigdb` -> (file collection, default release).
#: Default releases are the ones in the project's mirror.
MSIGDB_COLLECTIONS: dict[str, tuple[str, str]] = {
    "hallmark": ("h.all", "7.0"),
    "h.all": ("h.all", "7.0"),
    "reactome": ("c2.cp.reactome", "7.0"),
    "c2.cp.reactome": ("c2.cp.reactome", "7.0"),
    "c5.bp": ("c5.bp", "6.2"),
    "c5.mf": ("c5.mf", "7.0"),
    "c5.cc": ("c5.cc", "7.0"),
    "c6": ("c6.all", "7.0"),
    "c6.all": ("c6.all", "7.0"),
}



def msigdb(collection: str, *, version: str | None = None) -> GeneSets:
    """An MSigDB symbols collection, downloaded through :mod:`mgtranscript.fetch`.

    Parameters
    ----------
    collection
        ``"hallmark"``/``"h.all"``, ``"reactome"``/``"c2.cp.reactome"``, ``"c5.bp"``,
        ``"c5.mf"``, ``"c5.cc"``, ``"c6"``/``"c6.all"``.
    version
        MSigDB release, e.g. ``"7.0"``. Default: the collection's release in
        :data:`MSIGDB_COLLECTIONS` (7.0; 6.2 for ``c5.bp``).

    Raises
    ------
    GeneSetError
        Unknown collection name (the message lists the valid ones).
    AccessionNotFound
        The release does not exist on the server.
    FetchError, OfflineError
        Download problems (see :func:`mgtranscript.fetch.fetch`).
    """
    from ..fetch import fetch, msigdb_url

    key = str(collection).strip().lower()
    if key not in MSIGDB_COLLECTIONS:
        raise GeneSetError(
            f"unknown MSigDB collection {collection!r}; valid names: "
            f"{', '.join(MSIGDB_COLLECTIONS)}. For another GMT, pass its file path."
        )
    coll, default = MSIGDB_COLLECTIONS[key]
    ver = str(version) if version is not None else default
    url = msigdb_url(coll, ver)
    try:
        path = fetch(url)
    except AccessionNotFound as exc:
        raise AccessionNotFound(
            f"MSigDB {coll} release {ver} was not found at {url}; check the release number "
            f"(the default for {coll} is {default}).", url=url,
        ) from exc
    base = read_gmt(path)
    meta = base._meta.copy()
    meta["source"] = f"MSigDB {coll} v{ver}"
    return GeneSets._trusted(dict(base._sets), meta, source=f"MSigDB {coll} v{ver}",
                             version=ver, spec=key)


