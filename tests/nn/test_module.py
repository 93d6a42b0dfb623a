import os
import stat
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npy_format

from npml._module import Module, Parameter, load_npz, save_npz


class Leaf(Module):
    def __init__(self, rng, shape=(3, 2)):
        self.W = Parameter(rng.standard_normal(shape))
        self.b = Parameter(np.zeros(shape[-1]))
        self.not_a_param = np.ones(4)  # plain arrays are not parameters


class Tree(Module):
    def __init__(self, rng):
        self.embed = Leaf(rng, (5, 2))
        self.blocks = [Leaf(rng), Leaf(rng)]
        self.head = Leaf(rng, (2, 5))
        self.head.W = self.embed.W  # tied: the same Parameter object twice ...
        self.scale = Parameter(np.ones(1))


def test_parameter_names_are_dotted_and_shared_ones_appear_once(rng):
    tree = Tree(rng)
    names = [n for n, _ in tree.named_parameters()]
    assert names == [
        "scale",
        "embed.W",
        "embed.b",
        "blocks.0.W",
        "blocks.0.b",
        "blocks.1.W",
        "blocks.1.b",
        "head.b",  # ... so head.W is not listed again
    ]
    assert tree.n_params() == 1 + (10 + 2) + 2 * (6 + 2) + 5
    assert len(list(tree.modules())) == 5


def test_parameters_children_follow_torch(rng):
    tree = Tree(rng)
    params = list(tree.parameters())
    assert all(isinstance(p, Parameter) for p in params)
    assert [id(p) for p in params] == [id(p) for _, p in tree.named_parameters()]
    assert [n for n, _ in tree.named_children()] == ["embed", "blocks.0", "blocks.1", "head"]
    assert list(tree.children()) == [tree.embed, *tree.blocks, tree.head]
    assert [n for n, _ in tree.embed.named_parameters(prefix="embed.")] == ["embed.W", "embed.b"]


def test_nn_module_is_the_ground_floor_module():
    import npml.nn
    import npml.nn.module

    assert npml.nn.Module is Module and npml.nn.module.Parameter is Parameter


def test_zero_grad_and_accumulate(rng):
    tree = Tree(rng)
    tree.embed.W.accumulate(np.ones((5, 2)))
    tree.head.W.accumulate(np.ones((5, 2)))  # the tied parameter receives both
    np.testing.assert_array_equal(tree.embed.W.grad, 2.0)
    tree.zero_grad()
    assert all(p.grad is not None and not p.grad.any() for p in tree.parameters())
    with pytest.raises(ValueError, match=r"gradient of shape \(2,\) for a parameter of shape"):
        tree.scale.accumulate(np.ones(2))


def test_state_dict_is_a_copy_and_round_trips(rng):
    a, b = Tree(rng), Tree(rng)
    state = a.state_dict()
    state["embed.W"][...] = 0  # a copy: the module is unchanged
    assert a.embed.W.data.any()
    b.load_state_dict(a.state_dict())
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)
    assert b.head.W is b.embed.W  # loading keeps the tie


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_save_load_is_bit_exact(rng, tmp_path, dtype):
    a, b = Tree(rng), Tree(rng)
    for p in a.parameters():
        p.data = (p.data * np.pi + 1e-300).astype(dtype)  # awkward values
    for p in b.parameters():
        p.data = p.data.astype(dtype)
    path = tmp_path / "model.npz"
    a.save(path)
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no temporary file left behind
    b.load(path)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert q.data.dtype == dtype
        assert p.data.tobytes() == q.data.tobytes(), n


def test_load_rejects_missing_unexpected_and_misshapen(rng, tmp_path):
    tree = Tree(rng)
    state = tree.state_dict()
    before = {k: v.copy() for k, v in state.items()}
    state["embed.W"] += 1.0  # loading a valid part of this must not happen on failure
    path = tmp_path / "bad.npz"
    missing = {k: v for k, v in state.items() if k != "blocks.1.b"}
    save_npz(path, missing)
    with pytest.raises(ValueError, match=r"missing \['blocks.1.b'\]"):
        tree.load(path)
    save_npz(path, {**state, "extra": np.ones(1)})
    with pytest.raises(ValueError, match=r"unexpected \['extra'\]"):
        tree.load(path)
    save_npz(path, {**state, "head.b": np.ones(4)})
    with pytest.raises(ValueError, match=r"state\['head.b'\] has shape \(4,\); expected \(5,\)"):
        tree.load(path)
    for name, p in tree.named_parameters():  # failed loads change nothing
        np.testing.assert_array_equal(p.data, before[name], err_msg=name)


def test_npz_helpers(tmp_path):
    with pytest.raises(ValueError, match="ending in .npz"):
        save_npz(tmp_path / "x.txt", {"a": np.ones(1)})
    with pytest.raises(TypeError, match="dtype object"):
        save_npz(tmp_path / "x.npz", {"a": np.array([{}], dtype=object)})
    save_npz(tmp_path / "x.npz", {"a": np.arange(3.0)})
    np.testing.assert_array_equal(load_npz(tmp_path / "x.npz")["a"], np.arange(3.0))


def test_parameter_and_modes(rng):
    with pytest.raises(TypeError, match="expected a float array"):
        Parameter(np.arange(3))
    tree = Tree(rng)
    tree.eval()
    assert not any(m.training for m in tree.modules())
    tree.train()
    assert all(m.training for m in tree.modules())
    assert repr(tree).startswith("Tree(\n  (embed): Leaf(shape=(5, 2))\n  (blocks): ModuleList(")


# -- hardening: all-or-nothing loads ------------------------------------------------------------
class Pair(Module):
    def __init__(self, dtype=np.float64):
        self.a = Parameter(np.arange(6.0, dtype=dtype).reshape(2, 3))
        self.z = Parameter(
            np.ones(3, dtype=dtype)
        )  # checked after `a`, so `a` could be half-loaded


@pytest.mark.parametrize(
    ("dtype", "bad", "error", "match"),
    [
        (np.float64, np.array(["1", "2", "x"]), TypeError, r"state\['z'\] has dtype <U1"),
        (np.float64, np.array(["1.0", "2.0", "3.0"]), TypeError, r"state\['z'\] has dtype"),
        (np.float64, np.ones(3) + 1j, TypeError, r"state\['z'\] has dtype complex128"),
        (np.float64, np.array([True, False, True]), TypeError, r"state\['z'\] has dtype bool"),
        (np.float64, np.array([1, None, 2], dtype=object), TypeError, r"state\['z'\].*object"),
        (np.float64, np.array([1.0, np.nan, 2.0]), ValueError, r"state\['z'\] contains 1 non-fin"),
        (np.float64, np.array([1.0, np.inf, -np.inf]), ValueError, r"state\['z'\] contains 2"),
        (
            np.float32,
            np.array([1.0, 1e300, 2.0]),
            ValueError,
            r"state\['z'\] holds 1e\+300.*float32",
        ),
        (np.float32, np.array([1.0, -1e39, 2.0]), ValueError, r"state\['z'\] holds 1e\+39"),
        (np.float16, np.array([1.0, 7e4, 2.0]), ValueError, r"state\['z'\] holds 7e\+04"),
        (np.float64, np.ones(4), ValueError, r"state\['z'\] has shape \(4,\); expected \(3,\)"),
        (np.float64, [[1.0], [2.0, 3.0]], TypeError, r"state\['z'\] could not be converted"),
    ],
)
def test_a_failing_load_changes_nothing(dtype, bad, error, match):
    model = Pair(dtype)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    state = {"a": before["a"] + 100.0, "z": bad}
    with pytest.raises(error, match=match):
        model.load_state_dict(state)
    for name, p in model.named_parameters():
        assert p.data.tobytes() == before[name].tobytes(), name


@pytest.mark.parametrize("state", [None, [("a", np.ones((2, 3)))], np.ones(3), "a"])
def test_load_state_dict_wants_a_mapping(state):
    with pytest.raises(TypeError, match="state of type"):
        Pair().load_state_dict(state)


def test_load_accepts_integer_and_representable_values():
    model = Pair(np.float32)
    model.load_state_dict({"a": np.arange(6).reshape(2, 3), "z": np.array([3e38, -1.0, 0.0])})
    assert model.z.data.dtype == np.float32 and np.isfinite(model.z.data).all()


@pytest.mark.parametrize("mode", ["no", 1, None])
def test_train_mode_must_be_a_bool(mode):
    with pytest.raises(TypeError, match="mode="):
        Pair().train(mode)


# -- hardening: saves ------------------------------------------------------------------------
ODD_KEYS = ["file", "allow_pickle", "args", "kwds", "", "a/b", "x.npy", "x", "ü ñ", "..", "./c"]


def test_any_str_key_round_trips(tmp_path):
    arrays = {key: np.full(i + 1, float(i)) for i, key in enumerate(ODD_KEYS)}
    save_npz(tmp_path / "k.npz", arrays)
    out = load_npz(tmp_path / "k.npz")
    assert sorted(out) == sorted(ODD_KEYS)
    for key, value in arrays.items():
        np.testing.assert_array_equal(out[key], value, err_msg=key)
    with np.load(tmp_path / "k.npz", allow_pickle=False) as data:  # still a standard .npz
        np.testing.assert_array_equal(data["file"], arrays["file"])


@pytest.mark.parametrize(
    ("arrays", "error", "match"),
    [
        ({1: np.ones(1)}, TypeError, "arrays has key 1 of type int; expected str"),
        ({b"a": np.ones(1)}, TypeError, "arrays has key b'a' of type bytes"),
        ({("a",): np.ones(1)}, TypeError, "arrays has key"),
        ({"a\x00b": np.ones(1)}, ValueError, "arrays has key .* NUL"),
        ({"a": np.array([{}], dtype=object)}, TypeError, r"arrays\['a'\] has dtype object"),
        ([("a", np.ones(1))], TypeError, "arrays of type list; expected a mapping"),
    ],
)
def test_save_refuses_keys_and_values_it_cannot_round_trip(tmp_path, arrays, error, match):
    with pytest.raises(error, match=match):
        save_npz(tmp_path / "x.npz", arrays)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_get_the_mode_a_plain_open_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        save_npz(tmp_path / "m.npz", {"a": np.ones(2)})
        with open(tmp_path / "plain", "w"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.npz").st_mode) == 0o666 & ~umask
    assert os.stat(tmp_path / "m.npz").st_mode == os.stat(tmp_path / "plain").st_mode


def test_an_existing_file_keeps_its_mode(tmp_path):
    path = tmp_path / "m.npz"
    save_npz(path, {"a": np.ones(2)})
    os.chmod(path, 0o640)
    save_npz(path, {"a": np.zeros(2)})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    np.testing.assert_array_equal(load_npz(path)["a"], 0.0)


def test_saving_through_a_symlink_replaces_its_target(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.npz"
    save_npz(target, {"a": np.ones(2)})
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    save_npz(link, {"a": np.full(2, 7.0)})
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_array_equal(load_npz(target)["a"], 7.0)
    assert sorted(os.listdir(tmp_path / "real")) == ["model.npz"]
    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(tmp_path / "real" / "new.npz")
    save_npz(dangling, {"b": np.ones(1)})
    assert dangling.is_symlink() and "b" in load_npz(tmp_path / "real" / "new.npz")


def test_save_fsyncs_the_file_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(
        os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1]
    )
    save_npz(tmp_path / "s.npz", {"a": np.ones(2)})
    assert events[:2] == ["fsync", "replace"]
    assert events[2:] == ["fsync"]  # the directory, after the rename


def _fail_write_array(monkeypatch):
    real = npy_format.write_array
    calls = [0]

    def write_array(fh, arr, **kwargs):
        calls[0] += 1
        if calls[0] == 2:
            fh.write(b"half of it")
            raise OSError("disk full (injected)")
        return real(fh, arr, **kwargs)

    monkeypatch.setattr(npy_format, "write_array", write_array)


def _fail_at(monkeypatch, name):
    def boom(*args, **kwargs):
        raise OSError(f"{name} failed (injected)")

    monkeypatch.setattr(os, name, boom)


@pytest.mark.parametrize(
    "inject",
    [
        _fail_write_array,
        lambda mp: _fail_at(mp, "fsync"),
        lambda mp: _fail_at(mp, "replace"),
    ],
)
def test_a_failing_save_keeps_the_previous_file_and_leaves_no_temp_file(
    tmp_path, monkeypatch, inject
):
    path = tmp_path / "model.npz"
    save_npz(path, {"a": np.arange(3.0), "b": np.ones(2)})
    good = path.read_bytes()
    inject(monkeypatch)
    with pytest.raises(OSError, match="injected"):
        save_npz(path, {"a": np.zeros(3), "b": np.zeros(2), "c": np.zeros(1)})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.npz"]
    assert path.read_bytes() == good
    np.testing.assert_array_equal(load_npz(path)["a"], np.arange(3.0))


def _truncated(path):
    save_npz(path, {"a": np.arange(100.0), "b": np.ones(3)})
    path.write_bytes(path.read_bytes()[:-40])


def _flipped(path):
    save_npz(path, {"a": np.arange(100.0)})
    data = bytearray(path.read_bytes())
    data[300] ^= 0xFF  # inside a's data: the CRC no longer matches
    path.write_bytes(bytes(data))


def _npy(path):
    with open(path, "wb") as fh:
        np.save(fh, np.ones(3))


def _pickled(path):
    np.savez(path, a=np.array([{"x": 1}], dtype=object))


def _foreign_member(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "hello")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (_truncated, "cannot be loaded: .*truncated or corrupted"),
        (_flipped, "member 'a.npy' of .* cannot be loaded: Bad CRC-32"),
        (_npy, "is a single .npy array, not an .npz archive"),
        (lambda p: p.write_text("a,b\n1,2\n"), "is not an .npz archive"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b"PK\x03\x04garbage"), "cannot be loaded"),
        (_pickled, "member 'a.npy' of .* holds Python objects, which would need pickle"),
        (_foreign_member, "member 'notes.txt' of .* is not a .npy array"),
    ],
)
def test_loading_a_bad_file_names_the_file_and_the_problem(tmp_path, make, match):
    path = tmp_path / "bad.npz"
    make(path)
    with pytest.raises(ValueError, match=match) as info:
        load_npz(path)
    assert str(path) in str(info.value)
    tree = Pair()
    with pytest.raises(ValueError, match="bad.npz"):
        tree.load(path)


def test_load_of_a_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        load_npz(tmp_path / "nothing.npz")
