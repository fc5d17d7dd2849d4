/*
 * job_params.c: COMMON_PARAMS, the job parameters every model kind shares (job.h, ParamDef):
 * name, kind, JobSpec field, default, choices or range, help, and where it applies. A kind's
 * own parameters are rows in its file (model_cnn.c, model_lc.c, model_rbse.c); PARAMS gathers
 * both (model_registry.c). The YAML loader, the `train` flags, `--help`, docs/PARAMETERS.md,
 * the expand table and the results columns are all generated from PARAMS. A parameter added
 * needs a default that reproduces the behaviour before it (docs/FORMAT.md: a results file
 * without its column takes the default).
 */
#include "job.h"

#include <stddef.h>

#include "data.h"

#define F(field) FIELD_OF(JobSpec, field)

const ParamDef COMMON_PARAMS[] = {
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
    /* choices and help: the registered kinds' names and ModelKind.help (model_registry.c) */
    {"model", PK_CHOICE, F(model), "mlp", "", 0, 0, "", NULL},
    {"hidden", PK_INTLIST, F(hidden), "100", NULL, 1, 100000,
     "hidden layer sizes, e.g. [100, 100]; input and output sizes come from the dataset", "model=mlp|cnn|lc|lc_conv"},
    {"rule", PK_CHOICE, F(rule), "bp", "bp|fa|fa_noise|dfa", 0, 0,
     "training rule: backprop, feedback alignment, FA after noise pretraining, direct FA", NULL},
    {"optimizer", PK_CHOICE, F(optimizer), "adam", "adam|sgd|adamw", 0, 0,
     "optimizer (adamw: Adam with decoupled weight decay, Loshchilov & Hutter 2019)", NULL},
    {"lr", PK_REAL, F(lr), "1e-4", NULL, 0, 1e3, "learning rate", NULL},
    {"beta1", PK_REAL, F(beta1), "0.9", NULL, 0, 0.999999, "Adam beta1", "optimizer=adam|adamw"},
    {"beta2", PK_REAL, F(beta2), "0.999", NULL, 0, 0.99999999, "Adam beta2", "optimizer=adam|adamw"},
    {"eps", PK_REAL, F(eps), "1e-8", NULL, 0, 1, "Adam epsilon", "optimizer=adam|adamw"},
    {"momentum", PK_REAL, F(momentum), "0.9", NULL, 0, 0.999999, "SGD momentum", "optimizer=sgd"},
    {"weight_decay", PK_REAL, F(weight_decay), "0", NULL, 0, 1e3,
     "weight decay wd: sgd and adam add wd w to the gradient (L2, as PyTorch's SGD and Adam); adamw "
     "multiplies w by 1 - lr wd each step, apart from the Adam update (decoupled, as PyTorch's AdamW)", NULL},
    {"lr_decay_epochs", PK_INTLIST, F(lr_decay_epochs), "", NULL, 1, 1000000,
     "step schedule: increasing epoch counts, e.g. [100, 150]; after each many epochs the data phase's learning "
     "rate is multiplied by lr_decay_factor (PyTorch's MultiStepLR; [] for none)", NULL},
    {"lr_decay_factor", PK_REAL, F(lr_decay_factor), "1", NULL, 0, 1,
     "step schedule: factor in (0, 1] applied at each of lr_decay_epochs (1: no decay)", NULL},
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
    {"augment", PK_CHOICE, F(augment), "none", "none|crop_flip", 0, 0,
     "training images, every data epoch: crop_flip pads by 4 zeros (after preprocess) on each side, crops back "
     "at a random offset and flips left-right with p = 0.5, drawn by (seed, epoch, image); not for rbse, rbm, "
     "pixels", NULL},
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
};
const int N_COMMON_PARAMS = (int)(sizeof(COMMON_PARAMS) / sizeof(COMMON_PARAMS[0]));
