"""Benchmark files: a TFRecord shorter than the official one, an output name that lies (issue 14, class 5)."""
import pytest

from preprocessing import nb101_tfrecord as tfr
from preprocessing import nb201_custom_table
from tests.test_nb101_tfrecord import dataset_payloads, write_file


def cli_error(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1
    return err


def test_a_tfrecord_cut_at_a_record_boundary_is_named_shorter_than_the_official(tmp_path, capsys):
    payloads = dataset_payloads(4)
    whole = write_file(tmp_path / "nasbench_only108.tfrecord", payloads)
    cut = write_file(tmp_path / "cut.tfrecord", payloads[:-3])  # whole records: framing and CRCs all pass
    assert len(tfr.convert_tfrecord(cut, progress=False)) == 4  # the reader alone cannot tell
    for path in (whole, cut):
        err = cli_error(tfr.main, ["--tfrecord", str(path), "--out", str(tmp_path / "t.npz"), "--quiet"], capsys)
        assert "shorter than the official one" in err and "423,624 modules" in err
    assert "modules with fewer than 3 runs" in err and not (tmp_path / "t.npz").exists()
    tfr.main(["--tfrecord", str(cut), "--out", str(tmp_path / "t.npz"), "--subset", "--quiet"])
    assert (tmp_path / "t.npz").exists()


def test_an_npz_is_never_written_under_another_name(tmp_path, capsys):
    good = write_file(tmp_path / "good.tfrecord", dataset_payloads(2))
    err = cli_error(tfr.main, ["--tfrecord", str(good), "--out", str(tmp_path / "x.csv"), "--subset", "--quiet"],
                    capsys)
    assert "ending in .npz" in err and not (tmp_path / "x.csv").exists()
    csv = tmp_path / "mine.csv"
    csv.write_text("arch,valid_acc,test_acc\n|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|nor_conv_3x3~0|avg_pool_3x3~1|"
                   "skip_connect~2|,88.5,92.1\n")
    cli_error(nb201_custom_table.main, ["--csv", str(csv), "--out", str(tmp_path / "x.csv")], capsys)
    from preprocessing.errors import InputError
    from preprocessing.nb201_custom_table import load_custom_table

    with pytest.raises(InputError, match="ending in .npz"):
        load_custom_table(csv).save(tmp_path / "y.csv")
    assert not (tmp_path / "y.csv").exists()
