"""RFC 9162 hashing and proofs (timeline/merkle.py) against the Certificate Transparency test
vectors (as published by transparency-dev/merkle), and for random logs: every proof a tree of
stored nodes gives verifies, and a proof for a changed leaf or another size does not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from timeline import merkle

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
#: (leaf index, tree size, proof) from transparency-dev/merkle proof/verify_test.go.
INCLUSION = [
    (0, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (5, 8, ["bc1a0643", "ca854ea1", "d37ee418"]),
    (2, 3, ["fac54203"]),
    (1, 5, ["6e340b9c", "5f083f0a", "bc1a0643"]),
]
CONSISTENCY = [
    (1, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (6, 8, ["0ebc5d34", "ca854ea1", "d37ee418"]),
    (2, 5, ["5f083f0a", "bc1a0643"]),
    (6, 7, ["0ebc5d34", "b08693ec", "d37ee418"]),
]


class Tree:
    """A tree kept as the service keeps it (perfect subtrees by level and index), in memory."""

    def __init__(self) -> None:
        self.nodes: dict[merkle.Node, bytes] = {}
        self.size = 0

    def append(self, leaf: bytes) -> None:
        frontier = {level: self.nodes[node] for level, node in _frontier(self.size)}
        for node, digest in merkle.completed_nodes(self.size, leaf, frontier.__getitem__):
            self.nodes[node] = digest
        self.size += 1

    def root(self, size: int) -> bytes:
        if size == 0:
            return merkle.EMPTY_ROOT
        return merkle.assemble([merkle.root_nodes(size)], self.nodes)[0]

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return merkle.assemble(merkle.inclusion_nodes(index, size), self.nodes)

    def consistency(self, first: int, second: int) -> list[bytes]:
        return merkle.assemble(merkle.consistency_nodes(first, second), self.nodes)


def _frontier(size: int) -> list[tuple[int, merkle.Node]]:
    return [(node[0], node) for node in merkle.root_nodes(size)]


def vector_tree() -> Tree:
    tree = Tree()
    for data in LEAF_INPUTS:
        tree.append(merkle.leaf_hash(data))
    return tree


def test_leaf_and_node_hashes_are_rfc_9162s() -> None:
    assert ROOTS[0] == merkle.EMPTY_ROOT
    assert merkle.leaf_hash(b"") == ROOTS[1]
    first, second = (merkle.leaf_hash(d) for d in LEAF_INPUTS[:2])
    assert merkle.node_hash(first, second) == ROOTS[2]


def test_every_root_of_the_vector_tree_is_the_published_one() -> None:
    tree = vector_tree()
    leaves = [merkle.leaf_hash(d) for d in LEAF_INPUTS]
    for size, root in enumerate(ROOTS):
        assert tree.root(size) == root
        assert merkle.root_reference(leaves[:size]) == root


def test_inclusion_proofs_are_the_published_ones_and_verify() -> None:
    tree = vector_tree()
    for index, size, prefixes in INCLUSION:
        proof = tree.inclusion(index, size)
        assert [p.hex()[:8] for p in proof] == prefixes
        leaf = merkle.leaf_hash(LEAF_INPUTS[index])
        assert merkle.verify_inclusion(index, size, leaf, proof, ROOTS[size])
        assert not merkle.verify_inclusion(index, size, leaf, proof, ROOTS[size - 1])
        assert not merkle.verify_inclusion(index, size, leaf, [*proof, ROOTS[size]], ROOTS[size])


def test_consistency_proofs_are_the_published_ones_and_verify() -> None:
    tree = vector_tree()
    for first, second, prefixes in CONSISTENCY:
        proof = tree.consistency(first, second)
        assert [p.hex()[:8] for p in proof] == prefixes
        assert merkle.verify_consistency(first, second, ROOTS[first], ROOTS[second], proof)
        assert not merkle.verify_consistency(first, second, ROOTS[second], ROOTS[first], proof)
        assert not merkle.verify_consistency(first, second, ROOTS[first], ROOTS[second], [])
    assert merkle.verify_consistency(3, 3, ROOTS[3], ROOTS[3], [])
    assert not merkle.verify_consistency(3, 3, ROOTS[3], ROOTS[4], [])


leaves = st.lists(st.binary(max_size=12), min_size=1, max_size=70, unique=True)


@given(leaves, st.data())
def test_every_inclusion_proof_of_a_random_log_verifies_and_a_changed_leaf_fails(
    data_leaves: list[bytes], data: st.DataObject
) -> None:
    tree = Tree()
    for item in data_leaves:
        tree.append(merkle.leaf_hash(item))
    size = data.draw(st.integers(1, tree.size))
    index = data.draw(st.integers(0, size - 1))
    root = tree.root(size)
    assert root == merkle.root_reference([merkle.leaf_hash(d) for d in data_leaves[:size]])
    proof = tree.inclusion(index, size)
    leaf = merkle.leaf_hash(data_leaves[index])
    assert merkle.verify_inclusion(index, size, leaf, proof, root)
    changed = merkle.leaf_hash(data_leaves[index] + b"!")
    assert not merkle.verify_inclusion(index, size, changed, proof, root)
    if size > 1:
        assert not merkle.verify_inclusion((index + 1) % size, size, leaf, proof, root)


@given(leaves, st.data())
def test_every_consistency_proof_of_a_random_log_verifies_and_a_rewritten_one_fails(
    data_leaves: list[bytes], data: st.DataObject
) -> None:
    tree = Tree()
    for item in data_leaves:
        tree.append(merkle.leaf_hash(item))
    second = data.draw(st.integers(1, tree.size))
    first = data.draw(st.integers(1, second))
    proof = tree.consistency(first, second)
    old, new = tree.root(first), tree.root(second)
    assert merkle.verify_consistency(first, second, old, new, proof)
    victim = data.draw(st.integers(0, first - 1))
    rewritten = [merkle.leaf_hash(d) for d in data_leaves[:second]]
    rewritten[victim] = merkle.leaf_hash(data_leaves[victim] + b"!")
    forged = merkle.root_reference(rewritten[:first])
    assert not merkle.verify_consistency(first, second, forged, new, proof)


def test_a_proof_reads_a_logarithmic_number_of_nodes() -> None:
    for size in (1_000, 1_000_000, 2**40 + 12345):
        index = size // 3
        assert len(merkle.needed(merkle.inclusion_nodes(index, size))) <= 2 * size.bit_length()
        assert len(merkle.needed(merkle.consistency_nodes(index, size))) <= 2 * size.bit_length()
