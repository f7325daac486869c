"""Sharing structures (MODEL.md section 3): the tree of layers, and the instance with nothing shared.

* :func:`layer_tree` checks bottom-layer sharing and returns the tree of layers the DP works on:
  one node per block, a model being the path from the root to the node of its top block.
* :func:`unshared` gives every model private copies of its blocks: the world as a scheduler that
  ignores shared blocks (and a loader that loads whole models) sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .instance import Instance, Model


@dataclass(frozen=True)
class LayerTree:
    """A tree of layers. Node 0 is a virtual root with no block.

    Attributes
    ----------
    block : ndarray, shape (n_nodes,)
        Block index of each node (-1 for the root).
    parent : ndarray, shape (n_nodes,)
        Parent node (-1 for the root).
    children : tuple of tuple of int
        Children of each node, in order of first appearance.
    models_at : tuple of tuple of int
        Models whose top block is this node.
    model_node : ndarray, shape (n_models,)
        Node of each model's top block.
    resident_path : tuple of int
        Nodes whose blocks are resident at t = 0 (a path down from the root).
    """

    block: np.ndarray
    parent: np.ndarray
    children: tuple
    models_at: tuple
    model_node: np.ndarray
    resident_path: tuple

    @property
    def n_nodes(self) -> int:
        return len(self.block)

    def postorder(self) -> list[int]:
        """Nodes, children before parents (iterative: trees can be deep)."""
        out, stack = [], [(0, False)]
        while stack:
            v, done = stack.pop()
            if done:
                out.append(v)
                continue
            stack.append((v, True))
            stack.extend((c, False) for c in reversed(self.children[v]))
        return out


class NotBottomLayer(ValueError):
    """The instance's models do not share only bottom layers."""


def layer_tree(instance: Instance) -> LayerTree:
    """Build the tree of layers of a bottom-layer-sharing instance.

    Parameters
    ----------
    instance : Instance

    Returns
    -------
    LayerTree
        One node per block (node 0 is the root, no block), each model at the node of its top block,
        and the path of resident nodes from the root.

    Raises
    ------
    NotBottomLayer
        If two models share a block that is not in their common bottom prefix (naming the block
        and the models), or if the resident blocks are not one path down from the root.

    Notes
    -----
    Bottom-layer sharing holds iff inserting every model's block list into a trie puts each block
    in exactly one trie node. O(total number of model blocks), plus the resident path's length times
    the branching along it.
    """
    arr = instance.arrays
    block = [-1]
    parent = [-1]
    children: list[list[int]] = [[]]
    models_at: list[list[int]] = [[]]
    node_of_block: dict[int, tuple[int, str]] = {}
    model_node = np.zeros(len(arr.model_names), dtype=int)
    bidx = {b: j for j, b in enumerate(arr.block_names)}
    for mi, mname in enumerate(arr.model_names):
        v = 0
        for bname in instance.models[mname].blocks:
            j = bidx[bname]
            if j in node_of_block:   # a block has one node: it must be a child of v
                nxt = node_of_block[j][0]
                if parent[nxt] != v:
                    raise NotBottomLayer(
                        f"not bottom-layer sharing: block {bname!r} of model {mname!r} is also in "
                        f"model {node_of_block[j][1]!r} but outside their common bottom layers")
            else:
                nxt = len(block)
                block.append(j)
                parent.append(v)
                children.append([])
                models_at.append([])
                children[v].append(nxt)
                node_of_block[j] = (nxt, mname)
            v = nxt
        models_at[v].append(mi)
        model_node[mi] = v

    res_nodes = {node_of_block[j][0] for j in np.flatnonzero(arr.resident) if j in node_of_block}
    path = []
    v = 0
    while True:
        nxt = [c for c in children[v] if c in res_nodes]
        if len(nxt) > 1:
            raise NotBottomLayer("the resident blocks branch: they must be one path of bottom "
                                 "layers (the blocks of one model, or a prefix of them)")
        if not nxt:
            break
        v = nxt[0]
        path.append(v)
    if len(path) != len(res_nodes):
        raise NotBottomLayer("the resident blocks are not a path down from the bottom layer")
    return LayerTree(block=np.array(block), parent=np.array(parent),
                     children=tuple(tuple(c) for c in children),
                     models_at=tuple(tuple(m) for m in models_at), model_node=model_node,
                     resident_path=tuple(path))


def is_bottom_layer(instance: Instance) -> bool:
    """Whether every two models share exactly their common bottom layers (and resident is a path)."""
    try:
        layer_tree(instance)
    except NotBottomLayer:
        return False
    return True


def unshared(instance: Instance) -> Instance:
    """The same instance with every model holding private copies of its blocks.

    Block ``b`` of model ``m`` becomes ``"m/b"`` (or ``"'m'/'b'"``, quoted, if names holding ``/``
    would make two copies collide). Nothing is resident: the whole-model loader knows models, not
    blocks, and loads the first model whole whatever is resident (MODEL.md section 5). Partial
    loading on this instance *is* the whole-model loader on the original one.

    Parameters
    ----------
    instance : Instance

    Returns
    -------
    Instance
        Same users, uplink and models (by name); each model's blocks are its own copies; no
        resident blocks.

    Examples
    --------
    >>> import plcore
    >>> from plcore.model.sharing import unshared
    >>> inst = plcore.load_instance("data/instances/example.json")
    >>> flat = unshared(inst)
    >>> len(flat.blocks) == sum(len(m.blocks) for m in inst.models.values())
    True
    >>> order = list(range(inst.n_users))
    >>> a = plcore.evaluate(inst, order, partial=False).load_s
    >>> b = plcore.evaluate(flat, order).load_s
    >>> bool((a == b).all())
    True

    Notes
    -----
    The copy is built from the validated instance and its index arrays
    (:attr:`~plcore.model.instance.Instance.arrays`), not revalidated: the users' arrays are
    shared, and a model's load time after any other model, or from the empty GPU, is its
    whole-model time ``model_full_s`` on the original instance (0 after itself), so the times
    are those of the whole-model loader to the last bit. O(n_models^2 + total number of model
    blocks) beyond the original's arrays.
    """
    arr = instance.arrays
    pairs = [(mname, b) for mname, m in instance.models.items() for b in m.blocks]
    name = "{}/{}" if len({f"{m}/{b}" for m, b in pairs}) == len(pairs) else "{!r}/{!r}"
    blocks, models = {}, {}
    for mname, m in instance.models.items():
        names = tuple(name.format(mname, b) for b in m.blocks)
        for b, new in zip(m.blocks, names):
            blocks[new] = instance.blocks[b]
        models[mname] = Model(blocks=names, infer_s=m.infer_s)
    flat = Instance(blocks=blocks, models=models, users=instance.users,
                    bandwidth_hz=instance.bandwidth_hz, noise_psd_w_hz=instance.noise_psd_w_hz,
                    rate=instance.rate, resident=(), loader=instance.loader,
                    meta=dict(instance.meta))
    # Index arrays of the copy: block j of the copy is block col[j] of model owner[j].
    bidx = {b: j for j, b in enumerate(arr.block_names)}
    col = np.array([bidx[b] for _, b in pairs], dtype=int)
    sizes = [len(m.blocks) for m in instance.models.values()]
    owner = np.repeat(np.arange(len(models)), sizes)
    incidence = np.zeros((len(models), col.size), dtype=bool)
    incidence[owner, np.arange(col.size)] = True
    full = arr.model_full_s
    link = np.broadcast_to(full, (full.size, full.size)).copy()   # link[p, m]: all of m
    np.fill_diagonal(link, 0.0)
    own_bytes = np.bincount(owner, weights=arr.block_bytes[col], minlength=len(models))
    flat.__dict__["arrays"] = replace(
        arr, block_names=tuple(blocks), block_load_s=arr.block_load_s[col],
        block_bytes=arr.block_bytes[col], incidence=incidence,
        resident=np.zeros(col.size, dtype=bool), model_full_s=full.copy(), link_s=link,
        from_resident_s=full.copy(), shared_bytes=np.diag(own_bytes))
    if "a_hz" in instance.__dict__:
        flat.__dict__["a_hz"] = instance.__dict__["a_hz"]
    return flat
