"""RFC 9162 Merkle tree hashing, proofs and their verification, over stored node hashes.

A tree of n leaves is stored as its perfect subtrees: node (level, index) is the root of
leaves [index * 2**level, (index + 1) * 2**level), written once when its last leaf arrives
(as Trillian stores a tree). Every hash a root, inclusion or consistency proof needs is then
a fold of O(log n) stored nodes: `*_nodes` name the nodes, `assemble` folds the fetched ones.
Verification (`verify_inclusion`, `verify_consistency`) is RFC 9162 section 2.1.3.2 / 2.1.4.2
and needs nothing but hashlib: it is what a third party runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

#: A stored node: (level, index); level 0 holds the leaf hashes.
Node = tuple[int, int]
#: The nodes whose fold gives one hash of a proof (left to right), see `fold`.
Range = tuple[Node, ...]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162: SHA-256(0x00 || leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> Range:
    """The perfect subtrees that make up leaves [start, end), largest first; their fold is
    MTH(D[start:end]) when start is aligned, as it is for every range a proof names."""
    nodes = []
    size = end - start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return tuple(nodes)


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its perfect subtrees, largest first: H(a, H(b, H(c, ...)))."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def root_nodes(size: int) -> Range:
    """The nodes whose fold is the root of the tree of `size` leaves (its frontier)."""
    return range_nodes(0, size)


def inclusion_nodes(index: int, size: int) -> list[Range]:
    """RFC 9162 PATH(index, D[size]), bottom up, as ranges of stored nodes."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append(range_nodes(start + k, end))
            end = start + k
        else:
            path.append(range_nodes(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_nodes(first: int, second: int) -> list[Range]:
    """RFC 9162 PROOF(first, D[second]), as ranges of stored nodes (empty when equal)."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second} leaves")
    proof: list[Range] = []
    start, end, m, complete = 0, second, first, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(range_nodes(start + k, end))
            end = start + k
        else:
            proof.append(range_nodes(start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(range_nodes(start, end))
    proof.reverse()
    return proof


def assemble(ranges: Sequence[Range], lookup: Mapping[Node, bytes]) -> list[bytes]:
    """The hashes of a proof from the fetched nodes (KeyError names a missing node)."""
    return [fold([lookup[node] for node in nodes]) for nodes in ranges]


def needed(ranges: Sequence[Range]) -> set[Node]:
    """Every stored node a list of ranges reads: what to fetch in one query."""
    return {node for nodes in ranges for node in nodes}


def completed_nodes(
    index: int, leaf: bytes, frontier: Callable[[int], bytes]
) -> list[tuple[Node, bytes]]:
    """The nodes that leaf `index` completes: itself at level 0, then each perfect subtree
    it closes; `frontier(level)` gives the left sibling at that level (a frontier node)."""
    nodes = [((0, index), leaf)]
    current, level = leaf, 0
    while index >> level & 1:
        current = node_hash(frontier(level), current)
        level += 1
        nodes.append(((level, index >> level), current))
    return nodes


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does `proof` show leaf hash `leaf` at `index` in `root`?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: does `proof` show the tree of `second` leaves appends to
    the one of `first` leaves?"""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: its root is a node of the proof
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def root_reference(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) by the RFC's recursive definition over leaf hashes: the test oracle."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(root_reference(leaves[:k]), root_reference(leaves[k:]))
