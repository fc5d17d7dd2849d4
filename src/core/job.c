#include "job.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "dist.h"
#include "model.h"

#define F(field) offsetof(JobSpec, field), sizeof(((JobSpec *)0)->field)

const ParamDef PARAMS[] = {
    {"dataset", PK_CHOICE, F(dataset), "mnist", DATASET_NAMES, 0, 0, "dataset to train and test on", NULL},
    {"ood", PK_CHOICE, F(ood), "none", "none|translate|rotate|scale|usps", 0, 0,
     "out-of-distribution test set: the dataset's test images transformed, or USPS in MNIST's frame", NULL},
    {"ood_dx", PK_REAL, F(ood_dx), "0", NULL, -28, 28, "translate: pixels right", "ood=translate"},
    {"ood_dy", PK_REAL, F(ood_dy), "0", NULL, -28, 28, "translate: pixels down", "ood=translate"},
    {"ood_degrees", PK_REAL, F(ood_degrees), "0", NULL, -360, 360, "rotate: degrees counter-clockwise", "ood=rotate"},
    {"ood_scale", PK_REAL, F(ood_scale), "1", NULL, 0.1, 10, "scale: zoom factor about the centre", "ood=scale"},
    {"data_dir", PK_STR, F(data_dir), "", NULL, 0, 0,
     "dataset root (else --data-dir, then $SYNSWEEP_DATA, then ./data)", NULL},
    {"seed", PK_INT, F(seed), "0", NULL, 0, 2147483647, "seed of every random draw of the job", NULL},
    {"model", PK_CHOICE, F(model), "mlp", "mlp|cnn|lc|lc_conv|rbse|rbm|pixels", 0, 0,
     "mlp; cnn: conv -> 2x2 max-pool -> ReLU -> [adaptive pool] -> the hidden FC layers; lc: locally connected "
     "layers (-> ReLU -> 2x2 max-pool each) -> the hidden FC layers, with sleep (Pogodin et al.); lc_conv: the "
     "same network with conv layers; rbse, rbm: contrastive divergence on binarised images, then a softmax "
     "readout of the hidden features; pixels: the same readout of the binarised pixels", NULL},
    {"hidden", PK_INTLIST, F(hidden), "100", NULL, 1, 100000,
     "hidden layer sizes, e.g. [100, 100]; input and output sizes come from the dataset", "model=mlp|cnn|lc|lc_conv"},
    {"rule", PK_CHOICE, F(rule), "bp", "bp|fa|fa_noise|dfa", 0, 0,
     "training rule: backprop, feedback alignment, FA after noise pretraining, direct FA", NULL},
    {"optimizer", PK_CHOICE, F(optimizer), "adam", "adam|sgd", 0, 0, "optimizer", NULL},
    {"lr", PK_REAL, F(lr), "1e-4", NULL, 0, 1e3, "learning rate", NULL},
    {"beta1", PK_REAL, F(beta1), "0.9", NULL, 0, 0.999999, "Adam beta1", "optimizer=adam"},
    {"beta2", PK_REAL, F(beta2), "0.999", NULL, 0, 0.99999999, "Adam beta2", "optimizer=adam"},
    {"eps", PK_REAL, F(eps), "1e-8", NULL, 0, 1, "Adam epsilon", "optimizer=adam"},
    {"momentum", PK_REAL, F(momentum), "0.9", NULL, 0, 0.999999, "SGD momentum", "optimizer=sgd"},
    {"weight_decay", PK_REAL, F(weight_decay), "0", NULL, 0, 1e3, "L2 weight decay added to the gradient", NULL},
    {"batch_size", PK_INT, F(batch_size), "64", NULL, 1, 1000000, "minibatch size", NULL},
    {"epochs", PK_INT, F(epochs), "100", NULL, 0, 1000000, "passes over the training data", NULL},
    {"train_per_class", PK_INT, F(train_per_class), "0", NULL, 0, 100000000,
     "training examples per class drawn by the seed (0: use train_size)", NULL},
    {"train_size", PK_INT, F(train_size), "0", NULL, 0, 100000000,
     "training examples drawn by the seed when train_per_class is 0 (0: all)", NULL},
    {"test_size", PK_INT, F(test_size), "0", NULL, 0, 100000000,
     "first N test examples (0: the whole test split)", NULL},
    {"test_split", PK_CHOICE, F(test_split), "test", "test|heldout", 0, 0,
     "test on the dataset's test split, or on the training split's records the seed did not draw for training "
     "(first test_size of them; for datasets without a test split, e.g. svhn here)", NULL},
    {"preprocess", PK_CHOICE, F(preprocess), "unit", "unit|standardize", 0, 0,
     "pixel scaling: x/255, or standardised with the training subset's mean and std", NULL},
    {"init", PK_CHOICE, F(init), "kaiming", DIST_NAMES, 0, 0,
     "distribution of the initial FC weights (pytorch: nn.Linear's default, which draws the biases too)", NULL},
    {"init_scale", PK_REAL, F(init_scale), "1", NULL, 0, 1e6, "multiplier of the initial weights", NULL},
    {"feedback", PK_CHOICE, F(feedback), "kaiming", DIST_NAMES, 0, 0,
     "distribution of the FA/DFA feedback matrices", "rule=fa|fa_noise|dfa"},
    {"feedback_scale", PK_REAL, F(feedback_scale), "1", NULL, 0, 1e6, "multiplier of the feedback matrices", "rule=fa|fa_noise|dfa"},
    {"noise_examples", PK_INT, F(noise_examples), "640000", NULL, 1, 1000000000,
     "fa_noise: noise examples per noise epoch (fresh N(0, noise_std) inputs, uniform labels)", "rule=fa_noise"},
    {"noise_epochs", PK_INT, F(noise_epochs), "1", NULL, 0, 1000000, "fa_noise: noise epochs", "rule=fa_noise"},
    {"noise_lr", PK_REAL, F(noise_lr), "1e-4", NULL, 0, 1e3, "fa_noise: learning rate of the noise phase", "rule=fa_noise"},
    {"noise_std", PK_REAL, F(noise_std), "1", NULL, 0, 1e6, "fa_noise: std of the noise pixels", "rule=fa_noise"},
    {"noise_curve_points", PK_INT, F(noise_curve_points), "20", NULL, 0, 10000,
     "fa_noise: points of the noise-phase curve (examples, loss, angle per layer), evenly spaced in batches", "rule=fa_noise"},
    {"noise_adam_reset", PK_BOOL, F(noise_adam_reset), "true", NULL, 0, 0,
     "fa_noise: reset the optimizer state after the noise phase", "rule=fa_noise"},
    {"snapshots", PK_CHOICELIST, F(snapshots), "final", "init|after_noise|final", 0, 0,
     "stages at which W and B of every layer are saved ([] for none)", NULL},
    {"eval_train", PK_BOOL, F(eval_train), "true", NULL, 0, 0,
     "evaluate loss and accuracy on the training subset at every evaluation", NULL},
    {"eval_every", PK_INT, F(eval_every), "1", NULL, 0, 1000000,
     "epochs between evaluations for the curves (0: only after the last epoch)", NULL},
    {"time_limit", PK_REAL, F(time_limit), "0", NULL, 0, 1e9,
     "seconds a job may train before it stops with status timeout (0: no limit)", NULL},
    {"conv_dist", PK_CHOICE, F(conv_dist), "normal", DIST_NAMES "|trained", 0, 0,
     "cnn: distribution of the frozen conv kernels, or trained (kaiming init, learned by the rule)", "model=cnn"},
    {"conv_scale", PK_REAL, F(conv_scale), "1", NULL, 0, 1e6, "cnn: scale of the conv distribution", "model=cnn"},
    {"conv_kernels", PK_INT, F(conv_kernels), "64", NULL, 1, 4096, "cnn: number of conv kernels", "model=cnn"},
    {"conv_size", PK_INT, F(conv_size), "5", NULL, 1, 31, "cnn: kernel side", "model=cnn"},
    {"conv_padding", PK_CHOICE, F(conv_padding), "valid", "valid|same", 0, 0, "cnn: conv padding (same: (k-1)/2)", "model=cnn"},
    {"fc_pool", PK_INT, F(fc_pool), "0", NULL, 0, 64,
     "cnn: 0 flattens every pooled feature; n adaptive-pools each map to n x n (4: 64 x 16 = 1024)", "model=cnn"},
    {"fc_pool_mode", PK_CHOICE, F(fc_pool_mode), "avg", "avg|max", 0, 0,
     "cnn: what fc_pool takes of each cell: the average, or the maximum (PyTorch's AdaptiveMaxPool2d)", "model=cnn"},
    {"conv_bias", PK_BOOL, F(conv_bias), "true", NULL, 0, 0, "cnn: the conv layer has a bias per kernel", "model=cnn"},
    {"cache_features", PK_BOOL, F(cache_features), "true", NULL, 0, 0,
     "cnn with frozen conv: compute each image's features once (same numbers, faster)", "model=cnn"},
    {"cache_budget_mb", PK_INT, F(cache_budget_mb), "1024", NULL, 0, 1000000,
     "cnn with frozen conv and cache_features: also keep the test features when they take at most this many MiB "
     "(n_test x feature floats: 352 MiB for 10,000 MNIST images through 64 5x5 kernels, 39 MiB with fc_pool 4; 0: never)",
     "model=cnn"},
    {"lc_channels", PK_INTLIST, F(lc_channels), "32,32", NULL, 1, 4096,
     "lc, lc_conv: output channels of each LC (conv) layer, e.g. [32, 32]; depth = its length (1 to 4)", "model=lc|lc_conv"},
    {"lc_size", PK_INT, F(lc_size), "5", NULL, 1, 31, "lc, lc_conv: kernel side (odd; zero padding (k-1)/2, stride 1)",
     "model=lc|lc_conv"},
    {"lc_pool", PK_CHOICE, F(lc_pool), "max", "max|none", 0, 0,
     "lc, lc_conv: after each layer's ReLU a 2x2 max-pool (stride 2), or none", "model=lc|lc_conv"},
    {"lc_init", PK_CHOICE, F(lc_init), "independent", "independent|shared", 0, 0,
     "lc: initial kernels, an independent Kaiming (fan-out) draw per position (the authors'), or one shared kernel "
     "plus lc_init_eps times noise", "model=lc"},
    {"lc_init_eps", PK_REAL, F(lc_init_eps), "0", NULL, 0, 1e6,
     "lc, lc_init shared: relative noise per position (W_p = std (s + eps n_p) / sqrt(1 + eps^2))", "model=lc;lc_init=shared"},
    {"sleep", PK_CHOICE, F(sleep), "none", "none|instant|dynamic", 0, 0,
     "lc: weight sharing every sleep_every steps: none; instant (each kernel <- its group's mean); dynamic (the "
     "Hebbian sleep on tiled noise patches)", "model=lc"},
    {"sleep_every", PK_INT, F(sleep_every), "10", NULL, 1, 100000000, "lc: optimiser steps between sleeps",
     "model=lc;sleep=instant|dynamic"},
    {"sleep_share", PK_CHOICE, F(sleep_share), "grid", "grid|map", 0, 0,
     "lc: sharing groups, positions at stride lc_size in each direction (the authors') or the whole map",
     "model=lc;sleep=instant|dynamic"},
    {"sleep_steps", PK_INT, F(sleep_steps), "100", NULL, 1, 1000000, "lc, dynamic sleep: Hebbian iterations T per sleep",
     "model=lc;sleep=dynamic"},
    {"sleep_lr", PK_REAL, F(sleep_lr), "0.1", NULL, 0, 1e3, "lc, dynamic sleep: learning rate", "model=lc;sleep=dynamic"},
    {"sleep_gamma", PK_REAL, F(sleep_gamma), "1e-5", NULL, 0, 1e3,
     "lc, dynamic sleep: pull gamma (W - W0) toward the weights at the start of the sleep", "model=lc;sleep=dynamic"},
    {"sleep_batch", PK_INT, F(sleep_batch), "128", NULL, 1, 1000000, "lc, dynamic sleep: noise patches per iteration",
     "model=lc;sleep=dynamic"},
    {"meta_tasks", PK_CHOICELIST, F(meta_tasks), "", "mnist|fashion_mnist|kmnist", 0, 0,
     "datasets of the meta-loss (e.g. [mnist, fashion_mnist, kmnist]; [] = not measured)", NULL},
    {"meta_steps", PK_INT, F(meta_steps), "10", NULL, 1, 100000, "meta-loss: inner Adam steps per task", NULL},
    {"meta_lr", PK_REAL, F(meta_lr), "1e-3", NULL, 0, 1e3, "meta-loss: inner learning rate", NULL},
    {"meta_test_size", PK_INT, F(meta_test_size), "1000", NULL, 1, 100000000,
     "meta-loss: first N test examples of each task on which the loss is measured", NULL},
    {"lognormal_mu", PK_REAL, F(lognormal_mu), "-0.702", NULL, -100, 100, "lognormal: mean of log w", NULL},
    {"lognormal_sigma2", PK_REAL, F(lognormal_sigma2), "0.9355", NULL, 0, 100, "lognormal: variance of log w", NULL},
    {"lognormal_sign", PK_CHOICE, F(lognormal_sign), "positive", "positive|random|dale", 0, 0,
     "lognormal: all positive, random signs (p = 0.5), or Dale (a sign per presynaptic unit)", NULL},
    {"dale_inhibitory", PK_REAL, F(dale_inhibitory), "0.2", NULL, 0, 1, "lognormal dale: inhibitory fraction", "lognormal_sign=dale"},
    {"cs_sigma_center", PK_REAL, F(cs_sigma_center), "1", NULL, 1e-3, 1e3, "center_surround: s_c (pixels)", "model=cnn;conv_dist=center_surround"},
    {"cs_sigma_surround", PK_REAL, F(cs_sigma_surround), "2", NULL, 1e-3, 1e3, "center_surround: s_s (pixels)", "model=cnn;conv_dist=center_surround"},
    {"truncation", PK_REAL, F(truncation), "2", NULL, 0.1, 100, "truncated_normal: cut at this many scales", NULL},
    {"rbm_hidden", PK_INT, F(rbm_hidden), "500", NULL, 1, 100000, "rbse/rbm: hidden units", "model=rbse|rbm"},
    {"rbm_train_size", PK_INT, F(rbm_train_size), "10000", NULL, 0, 100000000,
     "rbse/rbm: training images (labels unused) drawn by the seed for contrastive divergence (0: all)", "model=rbse|rbm"},
    {"rbm_epochs", PK_INT, F(rbm_epochs), "10", NULL, 0, 1000000, "rbse/rbm: contrastive-divergence epochs", "model=rbse|rbm"},
    {"rbm_batch_size", PK_INT, F(rbm_batch_size), "100", NULL, 1, 1000000,
     "rbse/rbm: CD minibatch (persistent chains); an epoch uses the full batches of a shuffled order", "model=rbse|rbm"},
    {"cd_k", PK_INT, F(cd_k), "1", NULL, 1, 1000, "rbse/rbm: Gibbs steps per CD update (CD-k)", "model=rbse|rbm"},
    {"persistent", PK_BOOL, F(persistent), "false", NULL, 0, 0,
     "rbse/rbm: persistent chains (PCD-k) instead of chains restarted at the data", "model=rbse|rbm"},
    {"rbm_lr", PK_REAL, F(rbm_lr), "0.05", NULL, 0, 1e3, "rbse/rbm: CD learning rate (SGD with momentum)", "model=rbse|rbm"},
    {"rbm_momentum", PK_REAL, F(rbm_momentum), "0.5", NULL, 0, 0.999999, "rbse/rbm: CD momentum", "model=rbse|rbm"},
    {"rbm_weight_decay", PK_REAL, F(rbm_weight_decay), "1e-4", NULL, 0, 1e3,
     "rbse/rbm: L2 weight decay of the weights w (not a, b, c)", "model=rbse|rbm"},
    {"rbm_init_std", PK_REAL, F(rbm_init_std), "0.01", NULL, 0, 100, "rbse/rbm: initial w ~ N(0, std^2)", "model=rbse|rbm"},
    {"release_init", PK_REAL, F(release_init), "0.5", NULL, 1e-6, 1,
     "rbse: initial release probability sigmoid(a) of every synapse (1: always released)", "model=rbse"},
    {"learn_release", PK_BOOL, F(learn_release), "true", NULL, 0, 0,
     "rbse: CD learns the release logits a (false: p stays at release_init)", "model=rbse"},
    {"release_lr_scale", PK_REAL, F(release_lr_scale), "1", NULL, 0, 1e6,
     "rbse: learning rate of the release logits a as a multiple of rbm_lr", "model=rbse;learn_release=true"},
    {"rbse_samples", PK_INT, F(rbse_samples), "10", NULL, 1, 10000,
     "rbse/rbm/pixels: feature rows per labelled image (rbse: S masks; rbm, pixels: S copies, or S Bernoulli "
     "binarisations), and samples averaged at test", "model=rbse|rbm|pixels"},
    {"binarize", PK_CHOICE, F(binarize), "threshold", "threshold|bernoulli", 0, 0,
     "rbse/rbm/pixels: pixel x/255 -> 1 if above binarize_threshold, or with probability x/255", "model=rbse|rbm|pixels"},
    {"binarize_threshold", PK_REAL, F(binarize_threshold), "0.5", NULL, 0, 1, "rbse/rbm/pixels: binarisation threshold",
     "model=rbse|rbm|pixels;binarize=threshold"},
};
const int N_PARAMS = (int)(sizeof(PARAMS) / sizeof(PARAMS[0]));

#define M(field, help) {#field, offsetof(JobMetrics, field), help}
#define MN(name, field, help) {name, offsetof(JobMetrics, field), help}
const MetricDef METRICS[] = {
    M(train_loss, "final mean cross-entropy on the training subset"),
    M(train_acc, "final accuracy on the training subset"),
    M(test_loss, "final mean cross-entropy on the test set"),
    M(test_acc, "final accuracy on the test set"),
    M(gap_loss, "train_loss - test_loss"),
    M(gap_acc, "train_acc - test_acc"),
    M(auc_test_acc, "area under the test-accuracy-per-epoch curve / epochs"),
    M(readout_p_true_mean, "mean softmax probability of the true class on test data"),
    M(readout_p_true_std, "std of that probability"),
    M(readout_p_max_mean, "mean largest softmax probability on test data"),
    M(noise_loss, "mean loss of the last noise epoch (fa_noise)"),
    M(top_angle_init, "angle W vs B of the last layer at init, degrees (fa rules)"),
    M(top_angle_final, "angle W vs B of the last layer at the end, degrees (fa rules)"),
    M(dead_fraction, "fraction of hidden FC units that are 0 on every training example at the end"),
    MN("meta_loss_init", meta_loss[STAGE_INIT], "meta-loss at init"),
    MN("meta_loss_after_noise", meta_loss[STAGE_AFTER_NOISE], "meta-loss after the noise phase (fa_noise)"),
    MN("meta_loss_final", meta_loss[STAGE_FINAL], "meta-loss at the end"),
    MN("test_loss_init", stage_test_loss[STAGE_INIT], "test loss of the untrained network"),
    MN("test_acc_init", stage_test_acc[STAGE_INIT], "test accuracy of the untrained network"),
    MN("readout_p_true_mean_init", stage_p_true_mean[STAGE_INIT], "readout_p_true_mean of the untrained network"),
    MN("readout_p_max_mean_init", stage_p_max_mean[STAGE_INIT], "readout_p_max_mean of the untrained network"),
    MN("test_loss_after_noise", stage_test_loss[STAGE_AFTER_NOISE], "test loss after the noise phase (fa_noise)"),
    MN("test_acc_after_noise", stage_test_acc[STAGE_AFTER_NOISE], "test accuracy after the noise phase (fa_noise)"),
    MN("readout_p_true_mean_after_noise", stage_p_true_mean[STAGE_AFTER_NOISE], "readout_p_true_mean after the noise phase"),
    MN("readout_p_max_mean_after_noise", stage_p_max_mean[STAGE_AFTER_NOISE], "readout_p_max_mean after the noise phase"),
    M(test_acc_pred_mean, "rbse: test accuracy of the mean of the S predictions (test_acc: of the mean features)"),
    M(test_loss_pred_mean, "rbse: test loss of the mean of the S predictions"),
    M(recon_error, "rbse/rbm: mean squared reconstruction error after contrastive divergence"),
    M(mean_release, "rbse: mean release probability sigmoid(a) after contrastive divergence"),
    M(w_p_corr, "rbse: correlation of |w| and the release probability after contrastive divergence"),
    M(snr_paper, "lc: weight SNR at the end, the paper's definition (mean over LC layers)"),
    M(snr_code, "lc: weight SNR at the end, the authors' code's definition (mean over LC layers)"),
    M(n_sleeps, "lc: sleep phases run"),
};
const int N_METRICS = (int)(sizeof(METRICS) / sizeof(METRICS[0]));

const char *const STAGE_NAMES[N_STAGES] = {"init", "after_noise", "final"};
const char *const MODEL_CURVE_NAMES[N_MODEL_CURVES] = {
    "recon_error", "recon_ce", "mean_release", "w_p_corr",
    "release_hist_00", "release_hist_01", "release_hist_02", "release_hist_03", "release_hist_04",
    "release_hist_05", "release_hist_06", "release_hist_07", "release_hist_08", "release_hist_09",
    "release_hist_10", "release_hist_11", "release_hist_12", "release_hist_13", "release_hist_14",
    "release_hist_15", "release_hist_16", "release_hist_17", "release_hist_18", "release_hist_19",
    "snr_paper_0", "snr_paper_1", "snr_paper_2", "snr_paper_3",
    "snr_code_0", "snr_code_1", "snr_code_2", "snr_code_3"};
const char *const CURVE_NAMES[N_CURVES] = {"train_loss", "train_acc", "test_loss", "test_acc"};
const char *const LAYER_METRIC_NAMES[N_LAYER_METRICS] = {"angle", "angle_neuron_mean",
                                                         "angle_neuron_std", "erank", "gram_erank"};

const ParamDef *param_find(const char *name) {
    for (int i = 0; i < N_PARAMS; i++)
        if (strcmp(PARAMS[i].name, name) == 0) return &PARAMS[i];
    return NULL;
}

/* Is word one of the '|'-separated choices? */
static int in_choices(const char *word, const char *choices) {
    size_t n = strlen(word);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, word, n) == 0) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

/* Condition `cond` ("key=v1|v2", up to ';' or the end) on s: 1 holds, 0 fails; *key set. */
static int cond_holds(const char *cond, size_t len, const JobSpec *s, const ParamDef **key) {
    const char *eq = memchr(cond, '=', len);
    assert(eq); /* PARAMS is written that way */
    char name[32], choices[256], value[512];
    snprintf(name, sizeof name, "%.*s", (int)(eq - cond), cond);
    snprintf(choices, sizeof choices, "%.*s", (int)(len - (size_t)(eq + 1 - cond)), eq + 1);
    *key = param_find(name);
    assert(*key);
    jobspec_get(s, *key, value, sizeof value);
    return in_choices(value, choices);
}

const ParamDef *param_excluded_by(const ParamDef *d, const JobSpec *s) {
    for (const char *p = d->applies; p && *p;) {
        size_t len = strcspn(p, ";");
        const ParamDef *key;
        if (!cond_holds(p, len, s, &key)) return key;
        p += len + (p[len] == ';');
    }
    return NULL;
}

int param_applies(const ParamDef *d, const JobSpec *s) { return param_excluded_by(d, s) == NULL; }

int param_is_selector(const ParamDef *d) {
    size_t n = strlen(d->name);
    for (int i = 0; i < N_PARAMS; i++)
        for (const char *p = PARAMS[i].applies; p && *p;) {
            size_t len = strcspn(p, "=");
            if (len == n && !strncmp(p, d->name, n)) return 1;
            p += strcspn(p, ";");
            p += *p == ';';
        }
    return 0;
}

static int parse_int(const char *v, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end) {
        /* also accept integral reals such as 1e3 */
        double d = strtod(v, &end);
        if (end == v || *end || d != floor(d) || fabs(d) > 2147483647.0) return -1;
        x = (long)d;
    }
    *out = x;
    return 0;
}

static void trim(char *dst, const char *src, size_t n) {
    while (isspace((unsigned char)*src)) src++;
    snprintf(dst, n, "%s", src);
    size_t k = strlen(dst);
    while (k && isspace((unsigned char)dst[k - 1])) dst[--k] = 0;
}

int jobspec_set(JobSpec *s, const char *key, const char *value, char *err, size_t errlen) {
    const ParamDef *d = param_find(key);
    if (!d) {
        snprintf(err, errlen, "unknown parameter '%s' (synsweep train --help lists them)", key);
        return -1;
    }
    char *field = (char *)s + d->offset;
    char v[512];
    trim(v, value, sizeof v);
    /* text fields are zero-filled first, so equal specs are equal byte for byte */
    switch (d->kind) {
    case PK_INT: {
        long x;
        if (parse_int(v, &x)) {
            snprintf(err, errlen, "%s: expected an integer, got '%s'", key, v);
            return -2;
        }
        if (x < d->lo || x > d->hi) {
            snprintf(err, errlen, "%s: %ld is out of range [%.0f, %.0f]", key, x, d->lo, d->hi);
            return -2;
        }
        *(int32_t *)field = (int32_t)x;
        return 0;
    }
    case PK_REAL: {
        char *end;
        double x = strtod(v, &end);
        if (end == v || *end || !isfinite(x)) {
            snprintf(err, errlen, "%s: expected a number, got '%s'", key, v);
            return -2;
        }
        if (x < d->lo || x > d->hi) {
            snprintf(err, errlen, "%s: %g is out of range [%g, %g]", key, x, d->lo, d->hi);
            return -2;
        }
        *(double *)field = x;
        return 0;
    }
    case PK_BOOL: {
        int b;
        if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) b = 1;
        else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) b = 0;
        else {
            snprintf(err, errlen, "%s: expected true or false, got '%s'", key, v);
            return -2;
        }
        *(int32_t *)field = b;
        return 0;
    }
    case PK_CHOICE:
        if (!in_choices(v, d->choices)) {
            snprintf(err, errlen, "%s: '%s' is not one of %s", key, v, d->choices);
            return -2;
        }
        memset(field, 0, d->size);
        snprintf(field, d->size, "%s", v);
        return 0;
    case PK_STR:
        if (strlen(v) >= d->size) {
            snprintf(err, errlen, "%s: longer than %zu characters", key, d->size - 1);
            return -2;
        }
        memset(field, 0, d->size);
        snprintf(field, d->size, "%s", v);
        return 0;
    case PK_INTLIST:
    case PK_CHOICELIST: {
        /* items separated by ',' (the YAML loader joins sequences that way) */
        char out[512] = "", item[128];
        int n_items = 0;
        const char *p = v;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (len >= sizeof item) len = sizeof item - 1;
            char raw[128];
            memcpy(raw, p, len);
            raw[len] = 0;
            trim(item, raw, sizeof item);
            if (d->kind == PK_INTLIST) {
                long x;
                if (parse_int(item, &x) || x < d->lo || x > d->hi) {
                    snprintf(err, errlen, "%s: item '%s' is not an integer in [%.0f, %.0f]", key,
                             item, d->lo, d->hi);
                    return -2;
                }
                snprintf(item, sizeof item, "%ld", x);
                int max_items = !strcmp(d->name, "lc_channels") ? LC_MAX_LAYERS : MLP_MAX_LAYERS - 1;
                if (++n_items > max_items) {
                    snprintf(err, errlen, "%s: at most %d %slayers", key, max_items,
                             max_items == LC_MAX_LAYERS ? "" : "hidden ");
                    return -2;
                }
            } else if (!in_choices(item, d->choices)) {
                snprintf(err, errlen, "%s: item '%s' is not one of %s", key, item, d->choices);
                return -2;
            }
            if (out[0]) strcat(out, ",");
            if (strlen(out) + strlen(item) >= d->size) {
                snprintf(err, errlen, "%s: list too long (%zu characters at most)", key,
                         d->size - 1);
                return -2;
            }
            strcat(out, item);
            if (!comma) break;
            p = comma + 1;
        }
        memset(field, 0, d->size);
        snprintf(field, d->size, "%s", out);
        return 0;
    }
    }
    return -2;
}

void jobspec_get(const JobSpec *s, const ParamDef *d, char *buf, size_t n) {
    const char *field = (const char *)s + d->offset;
    switch (d->kind) {
    case PK_INT: snprintf(buf, n, "%d", *(const int32_t *)field); break;
    case PK_BOOL: snprintf(buf, n, "%s", *(const int32_t *)field ? "true" : "false"); break;
    case PK_REAL: { /* shortest text that reads back to the same double */
        double x = *(const double *)field;
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, n, "%.*g", prec, x);
            if (strtod(buf, NULL) == x) break;
        }
        break;
    }
    default: snprintf(buf, n, "%s", field); break;
    }
}

void jobspec_defaults(JobSpec *s) {
    memset(s, 0, sizeof(*s));
    char err[256];
    for (int i = 0; i < N_PARAMS; i++) {
        int rc = jobspec_set(s, PARAMS[i].name, PARAMS[i].def, err, sizeof err);
        (void)rc;
        /* hidden's default is the only list default; all defaults parse by construction */
    }
}

uint64_t jobspec_model_curves(const JobSpec *s, int *len) {
    const ModelKind *k = model_kind_find(s->model);
    *len = 0;
    return k && k->curves ? k->curves(s, len) : 0;
}

int jobspec_noise_points(const JobSpec *s) {
    const RuleDef *rd = rule_find(s->rule);
    if (!rd || !rd->noise_phase || s->noise_epochs <= 0 || s->batch_size <= 0) return 0;
    long batches = (long)s->noise_epochs * ((s->noise_examples + s->batch_size - 1) / s->batch_size);
    return (int)(s->noise_curve_points < batches ? s->noise_curve_points : batches);
}

int jobspec_hidden(const JobSpec *s, int *h) { return jobspec_intlist(s->hidden, h, MLP_MAX_LAYERS); }

int jobspec_intlist(const char *text, int *h, int max) {
    int n = 0;
    for (const char *p = text; *p && n < max;) {
        h[n++] = atoi(p);
        const char *c = strchr(p, ',');
        if (!c) break;
        p = c + 1;
    }
    return n;
}

void jobspec_dist(const JobSpec *s, const char *name, double scale, int k, DistParams *out) {
    dist_defaults(out, name, scale);
    out->mu = s->lognormal_mu, out->sigma2 = s->lognormal_sigma2;
    out->sign = !strcmp(s->lognormal_sign, "random") ? SIGN_RANDOM
                : !strcmp(s->lognormal_sign, "dale") ? SIGN_DALE : SIGN_POSITIVE;
    out->inh_frac = s->dale_inhibitory;
    out->cs_center = s->cs_sigma_center, out->cs_surround = s->cs_sigma_surround;
    out->trunc = s->truncation;
    out->k = k;
}

const char *const JOBSPEC_CHECK_READS =
    "model|rule|optimizer|dataset|train_per_class|train_size|init|feedback|ood|test_split|preprocess";

int jobspec_check(const JobSpec *s, char *err, size_t errlen) {
    if (!model_kind_find(s->model) || !rule_find(s->rule) || !optim_find(s->optimizer)) {
        snprintf(err, errlen, "unknown %s '%s'", !model_kind_find(s->model) ? "model" : !rule_find(s->rule) ? "rule" : "optimizer",
                 !model_kind_find(s->model) ? s->model : !rule_find(s->rule) ? s->rule : s->optimizer);
        return -1;
    }
    const ModelKind *kind = model_kind_find(s->model);
    if ((kind->phases & PHASE_READOUT) && strcmp(s->rule, "bp")) {
        snprintf(err, errlen, "model %s: the readout is one softmax layer, which fa, dfa and fa_noise would train "
                 "exactly as bp (no hidden layer to feed back to); use rule: bp", s->model);
        return -1;
    }
    if ((kind->phases & PHASE_READOUT) && strcmp(s->preprocess, "unit")) {
        snprintf(err, errlen, "model %s binarises pixels x/255; use preprocess: unit", s->model);
        return -1;
    }
    if (s->dataset[0] == 0) {
        snprintf(err, errlen, "dataset: not set");
        return -1;
    }
    if (s->train_per_class > 0 && s->train_size > 0) {
        snprintf(err, errlen, "train_per_class and train_size are both set; use one");
        return -1;
    }
    if (!strcmp(s->init, "center_surround") || !strcmp(s->feedback, "center_surround")) {
        snprintf(err, errlen, "center_surround draws conv kernels; use it for conv_dist, not init or feedback");
        return -1;
    }
    if (strcmp(s->ood, "none") && !strcmp(s->test_split, "heldout")) {
        snprintf(err, errlen, "ood: an out-of-distribution test set replaces the test split; use test_split: test");
        return -1;
    }
    if (!strcmp(s->ood, "usps") && strcmp(s->dataset, "mnist") && strcmp(s->dataset, "fashion_mnist") &&
        strcmp(s->dataset, "kmnist")) {
        snprintf(err, errlen, "ood: usps tests a model trained on 28x28 images (mnist family)");
        return -1;
    }
    return 0;
}

const char *status_name(int status) {
    switch (status) {
    case STATUS_OK: return "ok";
    case STATUS_DIVERGED: return "diverged";
    case STATUS_FAILED: return "failed";
    case STATUS_TIMEOUT: return "timeout";
    case STATUS_CANCELLED: return "cancelled";
    default: return "pending";
    }
}

int status_parse(const char *name) {
    for (int s = STATUS_PENDING; s <= STATUS_CANCELLED; s++)
        if (!strcmp(name, status_name(s))) return s;
    return -1;
}

void job_result_init(JobResult *r, int job_id) {
    memset(r, 0, sizeof(*r));
    r->job_id = job_id;
    r->status = STATUS_PENDING;
    double *m = (double *)&r->m;
    for (size_t i = 0; i < sizeof(r->m) / sizeof(double); i++) m[i] = NAN;
    double *l = &r->layer[0][0][0];
    for (size_t i = 0; i < sizeof(r->layer) / sizeof(double); i++) l[i] = NAN;
}

void job_result_free(JobResult *r) {
    free(r->curves), free(r->angle_curve), free(r->noise_curve), free(r->mcurves), free(r->snaps);
    r->curves = r->angle_curve = r->noise_curve = r->mcurves = r->snaps = NULL;
}

int job_result_n_snaps(const JobResult *r) {
    int n = 0;
    for (int s = 0; s < N_STAGES; s++) n += (r->snap_mask >> s) & 1;
    return n;
}

/* curves, angle_curve, noise_curve and mcurves travel as one block */
static size_t n_curve_floats(const JobResult *r) {
    return (size_t)(N_CURVES + MLP_MAX_LAYERS) * (size_t)r->n_epochs + (size_t)NOISE_COLS * (size_t)r->n_noise_points +
           (size_t)N_MODEL_CURVES * (size_t)r->n_mepochs;
}
static size_t n_snap_floats(const JobResult *r) {
    return (size_t)job_result_n_snaps(r) * (size_t)(r->n_params + r->n_fixed);
}

/* What travels: the epoch curves if curves is set (then angle_curve is too), the noise
 * curve if set, the snapshots if set. */
static JobResult packed_header(const JobResult *r) {
    JobResult h = *r;
    h.n_epochs = r->curves ? r->n_epochs : 0;
    h.n_noise_points = r->noise_curve ? r->n_noise_points : 0;
    h.n_mepochs = r->mcurves ? r->n_mepochs : 0;
    h.snap_mask = r->snaps ? r->snap_mask : 0;
    h.curves = h.angle_curve = h.noise_curve = h.mcurves = h.snaps = NULL;
    return h;
}

size_t job_result_packed_size(const JobResult *r) {
    JobResult h = packed_header(r);
    return sizeof(JobResult) + (n_curve_floats(&h) + n_snap_floats(&h)) * sizeof(float);
}

void job_result_pack(const JobResult *r, void *buf) {
    JobResult h = packed_header(r);
    char *p = buf;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    size_t nc = (size_t)N_CURVES * h.n_epochs, na = (size_t)MLP_MAX_LAYERS * h.n_epochs,
           nn = (size_t)NOISE_COLS * h.n_noise_points, nm = (size_t)N_MODEL_CURVES * h.n_mepochs, ns = n_snap_floats(&h);
    if (nc) memcpy(p, r->curves, nc * sizeof(float)), p += nc * sizeof(float);
    if (na) memcpy(p, r->angle_curve, na * sizeof(float)), p += na * sizeof(float);
    if (nn) memcpy(p, r->noise_curve, nn * sizeof(float)), p += nn * sizeof(float);
    if (nm) memcpy(p, r->mcurves, nm * sizeof(float)), p += nm * sizeof(float);
    if (ns) memcpy(p, r->snaps, ns * sizeof(float));
}

int job_result_unpack(const void *buf, size_t n, JobResult *r) {
    memset(r, 0, sizeof(*r));
    if (n < sizeof(JobResult)) return -1;
    memcpy(r, buf, sizeof(JobResult));
    r->curves = r->angle_curve = r->noise_curve = r->mcurves = r->snaps = NULL;
    if (r->n_epochs < 0 || r->n_noise_points < 0 || r->n_mepochs < 0 || r->n_params < 0 || r->n_fixed < 0 || r->snap_mask < 0 ||
        r->snap_mask >= (1 << N_STAGES) || r->n_layers < 0 || r->n_layers > MLP_MAX_LAYERS)
        return -1;
    /* snapshots are written from the tensor list: it must describe the buffers exactly */
    if (r->snap_mask && (tensors_check(&r->tensors) || r->tensors.n_params != r->n_params ||
                         r->tensors.n_fixed != r->n_fixed))
        return -1;
    size_t nc = (size_t)N_CURVES * r->n_epochs, na = (size_t)MLP_MAX_LAYERS * r->n_epochs,
           nn = (size_t)NOISE_COLS * r->n_noise_points, nm = (size_t)N_MODEL_CURVES * r->n_mepochs, ns = n_snap_floats(r);
    if (n != sizeof(JobResult) + (n_curve_floats(r) + ns) * sizeof(float)) return -1;
    const char *p = (const char *)buf + sizeof(JobResult);
    if ((nc && !(r->curves = malloc(nc * sizeof(float)))) || (na && !(r->angle_curve = malloc(na * sizeof(float)))) ||
        (nn && !(r->noise_curve = malloc(nn * sizeof(float)))) || (nm && !(r->mcurves = malloc(nm * sizeof(float)))) ||
        (ns && !(r->snaps = malloc(ns * sizeof(float))))) {
        job_result_free(r);
        return -1;
    }
    if (nc) memcpy(r->curves, p, nc * sizeof(float)), p += nc * sizeof(float);
    if (na) memcpy(r->angle_curve, p, na * sizeof(float)), p += na * sizeof(float);
    if (nn) memcpy(r->noise_curve, p, nn * sizeof(float)), p += nn * sizeof(float);
    if (nm) memcpy(r->mcurves, p, nm * sizeof(float)), p += nm * sizeof(float);
    if (ns) memcpy(r->snaps, p, ns * sizeof(float));
    return 0;
}
