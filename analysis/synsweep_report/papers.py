"""Reference numbers and claims of the papers the sweeps reproduce, keyed by the id a sweep
gives in `paper:`. Every entry cites where it comes from (../shared/papers/*.txt,
../shared/SCIENCE.md). Add a paper here and a section in sections.py to compare with it."""

PAPERS = {
    "karimi2024": {
        "title": "Karimi, Shafiee, Ghodsi, Wong: Synthesizing Deep Neural Network Architectures "
                 "using Biological Synaptic Strength Distributions",
        "source": "papers/001_6b8669ec63558deb.txt lines 42-47 (Table 1; also 000_089671dee19bdf29.txt "
                  "lines 215-229); SCIENCE.md section 1",
        # Table 1: test accuracy (%), mean +- std over 3 runs; (dataset, conv_dist) -> (mean, std)
        "table1": {
            ("cifar10", "normal"): (19.83, 0.74), ("cifar10", "lognormal"): (25.67, 0.17),
            ("cifar10", "center_surround"): (26.40, 0.74), ("cifar10", "trained"): (20.37, 0.62),
            ("mnist", "normal"): (72.52, 0.21), ("mnist", "lognormal"): (80.89, 0.45),
            ("mnist", "center_surround"): (78.08, 1.19), ("mnist", "trained"): (79.01, 1.39),
            ("svhn", "normal"): (26.40, 0.22), ("svhn", "lognormal"): (30.32, 0.17),
            ("svhn", "center_surround"): (30.86, 0.57), ("svhn", "trained"): (27.70, 1.79),
        },
    },
    "cheon2024": {
        "title": "Cheon, Lee, Paik: Pretraining with Random Noise for Fast and Robust Learning "
                 "without Weight Transport (NeurIPS 2024)",
        "source": "papers/004_1a7f39a272eb25fa.txt; SCIENCE.md section 2",
        # The paper's text gives its results as figures and t-tests whose numbers were lost in
        # conversion; what survives are these claims (and ~90 degrees at init). `value` is a
        # number where the source gives one.
        "claims": [
            {"id": "angle_init_90", "text": "untrained FA network: W-B angle close to 90 degrees",
             "source": "004 line 34 (Fig. 1e)", "value": 90.0, "unit": "deg"},
            {"id": "noise_aligns", "text": "noise training lowers the W-B angle",
             "source": "004 line 34 (Fig. 1e)"},
            {"id": "noise_budget_73", "text": "640,000 noise examples take the output layer's angle from "
             "about 90 to about 73 degrees (project measurement, not the paper)",
             "source": "SCIENCE.md section 2, 'Noise budget matters'", "value": 73.0, "unit": "deg"},
            {"id": "auc_faster", "text": "noise-pretrained FA learns faster than FA (AUC of test accuracy)",
             "source": "004 line 36 (Fig. 2b)"},
            {"id": "auc_like_bp", "text": "noise-pretrained FA learns about as fast as BP",
             "source": "004 line 36 (Fig. 2b inset)"},
            {"id": "final_angle", "text": "after data training the angle is smaller with noise pretraining",
             "source": "004 line 36 (Fig. 2c)"},
            {"id": "final_angle_44_56", "text": "FA after 640,000 noise examples ends at about 44 degrees vs "
             "56 without, after 20 data epochs (project measurement, not the paper)",
             "source": "SCIENCE.md section 2", "value": (44.0, 56.0), "unit": "deg"},
            {"id": "order", "text": "noise before data aligns W with B; data then noise does not",
             "source": "004 line 37 (Fig. 2f-g)"},
            {"id": "readout_chance", "text": "after noise training the readout is near chance (1/classes)",
             "source": "004 line 39 (Fig. 3b)", "value": 0.1},
            {"id": "erank_drops", "text": "noise training lowers the effective rank of W",
             "source": "004 line 41 (Fig. 3d)"},
            {"id": "gap_lower", "text": "the generalisation gap (train - test) is lower with noise pretraining, "
             "for every training-set size", "source": "004 line 42 (Fig. 3e-f)"},
            {"id": "gram_lower", "text": "the Gram-matrix effective rank is lower with noise pretraining, "
             "at every depth", "source": "004 line 43 (Fig. 3g-h)"},
            {"id": "ood_higher", "text": "higher out-of-distribution accuracy (translated, rotated, scaled "
             "MNIST; USPS) with noise pretraining", "source": "004 line 44 (Fig. 4b-c)"},
            {"id": "meta_drops", "text": "the meta-loss falls during noise training",
             "source": "004 line 48 (Fig. 5a)"},
            {"id": "adapt_faster", "text": "faster adaptation to MNIST, Fashion-MNIST, KMNIST with noise "
             "pretraining", "source": "004 line 48 (Fig. 5c)"},
        ],
    },
    "alshedivat2015": {
        "title": "Al-Shedivat, Neftci, Cauwenberghs: Neural Generative Models with Stochastic Synapses "
                 "Capture Richer Representations (poster; RBSE)",
        "source": "papers/002_cbc27f5c1a7ad7a0.txt; SCIENCE.md section 3",
        # The poster states its results without numbers: these are the claims.
        "claims": [
            {"id": "oneshot_better", "text": "a logistic readout of RBSE (stochastic) features generalises better "
             "than one of deterministic RBM features in one-shot MNIST (1 labelled image per class)",
             "source": "002 lines 87, 94; SCIENCE.md section 3"},
            {"id": "release_evolves", "text": "the release probabilities evolve over the course of training",
             "source": "002 line 83; SCIENCE.md section 3"},
            {"id": "strongest_reliable", "text": "the strongest synapses become the most reliable (p rises with |w|)",
             "source": "002 lines 83, 93; SCIENCE.md section 3"},
        ],
    },
    "pogodin2021": {
        "title": "Pogodin, Mehta, Lillicrap, Latham: Towards Biologically Plausible Convolutional Networks "
                 "(NeurIPS 2021; LC layers, dynamic weight sharing)",
        "source": "papers/003_7ec5c47d8aeb5f05.txt; SCIENCE.md section 4",
        "claims": [
            {"id": "lc_behind_conv", "text": "an LC network without weight sharing falls behind the conv "
             "network of the same shape", "source": "003 lines 43-45; SCIENCE.md section 4"},
            {"id": "sharing_closer", "text": "with weight sharing (instant, or the Hebbian sleep) the LC "
             "network approaches conv accuracy (above LC without sharing)", "source": "003 lines 63-69; SCIENCE.md section 4"},
            {"id": "snr_rises", "text": "with sharing the kernels converge across positions: SNR_w higher than "
             "without sharing", "source": "003 lines 69, 97-102 (Eq. 6, Fig. 4); SCIENCE.md section 4"},
        ],
    },
}


def paper(pid):
    return PAPERS.get(pid) if pid else None
