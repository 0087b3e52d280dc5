import pytest
import torch

from gwkit.engine.snr import Curriculum, FixedSNRs, UniformSNR, parse_snr
from gwkit.sim.recipe import COMPETITION_SNRS


def test_parse_specs():
    assert parse_snr("competition") == FixedSNRs(COMPETITION_SNRS)
    assert parse_snr(20) == FixedSNRs((20.0,))
    assert parse_snr("4,5") == FixedSNRs((4.0, 5.0))
    assert parse_snr("uniform:4:30") == UniformSNR(4.0, 30.0)
    assert parse_snr({"uniform": [4, 30]}) == UniformSNR(4.0, 30.0)
    cur = parse_snr([{"until": 0.5, "snr": "uniform:10:30"}, {"until": 1.0, "snr": "competition"}])
    assert isinstance(cur, Curriculum)
    for bad in ("uniform:4", "lots", {"x": 1}, [], "0,5"):
        with pytest.raises(ValueError):
            parse_snr(bad)


def test_distributions_sample_what_they_say():
    g = torch.Generator().manual_seed(0)
    v = parse_snr("competition").sample(6000, g)
    counts = torch.stack([(v == s).sum() for s in COMPETITION_SNRS])
    assert counts.sum() == 6000 and counts.min() > 400
    u = UniformSNR(4, 30).sample(2000, g)
    assert u.min() >= 4 and u.max() < 30 and abs(u.mean().item() - 17) < 1
    cur = Curriculum(((0.5, FixedSNRs((30.0,))), (1.0, FixedSNRs((5.0,)))))
    assert torch.all(cur.sample(10, g, progress=0.1) == 30)
    assert torch.all(cur.sample(10, g, progress=0.9) == 5)
    with pytest.raises(ValueError, match="reach 1.0"):
        Curriculum(((0.5, FixedSNRs((30.0,))),))
