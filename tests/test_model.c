/*
 * The model interface: the tables (every model, rule and optimizer choice of the parameter
 * table has a row, and nothing else), unknown names refused, tensor lists that describe the
 * buffers exactly (each head tensor is where the layer's pointer is), tensors_check on bad
 * lists; and the golden values (llm.c's expected_losses): per-epoch train and test losses
 * and the final test accuracy of small fixed-seed jobs of every model kind on real MNIST,
 * compared bit for bit with tests/golden/losses.txt.
 *
 * The golden values hold for one OpenBLAS kernel: CTest runs this test with
 * OPENBLAS_CORETYPE=Haswell (AVX2), the kernel every x86-64 CPU of the last decade runs, on
 * one thread (a threaded GEMM sums in another order).
 * After an intended change of numerics, regenerate the file with
 *   OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 build/tests/test_model --write tests/golden/losses.txt
 * and say why in the commit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "job.h"
#include "model.h"
#include "testutil.h"
#include "train.h"

/* Each '|'-separated choice of parameter pname, and each name of the table, is in the other. */
static void check_table(const char *pname, const char *const *names) {
    const ParamDef *d = param_find(pname);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", d->choices);
    int n_choices = 0, n_names = 0;
    for (char *tok = strtok(buf, "|"); tok; tok = strtok(NULL, "|"), n_choices++) {
        int found = 0;
        for (int i = 0; names[i]; i++) found |= !strcmp(names[i], tok);
        CHECK(found, "%s: choice '%s' has a row in its table", pname, tok);
    }
    for (int i = 0; names[i]; i++) n_names++;
    CHECK(n_choices == n_names, "%s: %d choices, %d rows", pname, n_choices, n_names);
}

static void test_tables(void) {
    const char *models[16] = {0}, *rules[16] = {0}, *optims[16] = {0};
    for (int i = 0; MODEL_KINDS[i]; i++) models[i] = MODEL_KINDS[i]->name;
    for (int i = 0; RULES[i].name; i++) rules[i] = RULES[i].name;
    for (int i = 0; OPTIMS[i].name; i++) optims[i] = OPTIMS[i].name;
    check_table("model", models);
    check_table("rule", rules);
    check_table("optimizer", optims);
    /* unknown names are errors, never a default (the spec bypasses the YAML checks here) */
    const char *field[] = {"model", "rule", "optimizer"};
    for (int k = 0; k < 3; k++) {
        JobSpec s;
        jobspec_defaults(&s);
        char *f = k == 0 ? s.model : k == 1 ? s.rule : s.optimizer;
        strcpy(f, "rbse_x");
        Model md;
        char err[256] = "";
        CHECK(model_build(&md, &s, 1, 28, 28, 10, err, sizeof err) == -1 && strstr(err, field[k]) &&
                  strstr(err, "rbse_x"),
              "unknown %s refused: %s", field[k], err);
        CHECK(jobspec_check(&s, err, sizeof err) == -1 && strstr(err, "rbse_x"), "jobspec_check: %s", err);
    }
}

/* The tensor list of built models: dense layout, and each head tensor where the Mlp points. */
static void test_tensors(void) {
    const char *cfg[][4] = {{"mlp", "fa", "normal", "100,50"}, {"mlp", "dfa", "normal", "30,20"},
                            {"cnn", "fa", "trained", "16"},     {"cnn", "dfa", "trained", "16"},
                            {"cnn", "bp", "lognormal", "16"}};
    for (int k = 0; k < 5; k++) {
        JobSpec s;
        char err[256];
        jobspec_defaults(&s);
        jobspec_set(&s, "model", cfg[k][0], err, sizeof err);
        jobspec_set(&s, "rule", cfg[k][1], err, sizeof err);
        jobspec_set(&s, "conv_dist", cfg[k][2], err, sizeof err);
        jobspec_set(&s, "hidden", cfg[k][3], err, sizeof err);
        jobspec_set(&s, "conv_kernels", "4", err, sizeof err);
        Model md;
        CHECK(model_build(&md, &s, 1, 28, 28, 10, err, sizeof err) == 0, "%s: %s", cfg[k][0], err);
        const TensorList *tl = &md.tensors;
        CHECK(tensors_check(tl) == 0, "%s/%s: tensor list is dense and consistent", cfg[k][0], cfg[k][1]);
        CHECK(md.opt.n == (size_t)tl->n_params, "one optimiser over every trainable float");
        const Mlp *m = md.kind->head(&md);
        int ok = 1;
        char name[16];
        for (int l = 0; l < m->n_layers; l++) {
            snprintf(name, sizeof name, "W%d", l);
            const Tensor *t = tensors_find(tl, name);
            ok &= t && model_tensor(&md, t) == m->W[l] && t->shape[0] == m->sizes[l + 1] && t->shape[1] == m->sizes[l];
            snprintf(name, sizeof name, "b%d", l);
            t = tensors_find(tl, name);
            ok &= t && model_tensor(&md, t) == m->b[l] && !t->fixed;
            snprintf(name, sizeof name, "B%d", l);
            t = tensors_find(tl, name);
            ok &= m->F[l] ? t && t->fixed && model_tensor(&md, t) == m->F[l] : t == NULL;
        }
        const Tensor *cw = tensors_find(tl, "conv_W");
        if (!strcmp(cfg[k][0], "cnn")) ok &= cw && cw->fixed == (strcmp(cfg[k][2], "trained") != 0) && cw->shape[0] == 4;
        CHECK(ok, "%s/%s/%s: every tensor is where its layer reads it", cfg[k][0], cfg[k][1], cfg[k][2]);
        model_free(&md);
    }
    /* tensors_check refuses lists that do not describe their buffers */
    TensorList tl = {0};
    int sh[2] = {3, 4};
    tensors_add(&tl, "W0", 2, sh, 0);
    tensors_add(&tl, "B0", 2, sh, 1);
    CHECK(tensors_check(&tl) == 0, "a good list");
    TensorList bad = tl;
    bad.t[1].offset = 5;
    CHECK(tensors_check(&bad) == -1, "a gap in a buffer");
    bad = tl, bad.n_params = 13;
    CHECK(tensors_check(&bad) == -1, "a wrong buffer size");
    bad = tl, strcpy(bad.t[1].name, "W0");
    CHECK(tensors_check(&bad) == -1, "a repeated name");
    bad = tl, bad.t[0].shape[0] = 0;
    CHECK(tensors_check(&bad) == -1, "an empty dimension");
    bad = tl, memset(bad.t[0].name, 'x', sizeof bad.t[0].name);
    CHECK(tensors_check(&bad) == -1, "an unterminated name");
}

/* ---- golden values ---- */

typedef struct Golden {
    const char *name;
    const char *kv[10][2];
} Golden;

/* Small jobs covering every model kind, rule and optimiser path (noise phase, trained and
 * frozen conv, adaptive pooling, SGD; rbse, rbm with PCD-2, pixels with Bernoulli binarisation),
 * each set (learning rate, conv scale, CD budget) so that it learns: a freeze of a model that
 * no longer learns fails MIN_GOLDEN_ACC as well as the bits. */
static const Golden JOBS[] = {
    {"mlp_bp", {{"rule", "bp"}}},
    {"mlp_fa", {{"rule", "fa"}, {"hidden", "40,20"}, {"lr", "5e-3"}}},
    {"mlp_fa_noise", {{"rule", "fa_noise"}}},
    {"mlp_dfa_sgd", {{"rule", "dfa"}, {"optimizer", "sgd"}, {"lr", "0.01"}, {"hidden", "40,20"}}},
    {"cnn_frozen_fa", {{"model", "cnn"}, {"conv_dist", "normal"}, {"rule", "fa"}, {"lr", "5e-3"}}},
    {"cnn_trained_bp", {{"model", "cnn"}, {"conv_dist", "trained"}, {"rule", "bp"}}},
    {"cnn_pool_dfa", {{"model", "cnn"}, {"conv_dist", "lognormal"}, {"conv_scale", "0.05"}, {"fc_pool", "4"},
                      {"rule", "dfa"}, {"lr", "1e-2"}}},
    {"cnn_trained_fa_noise", {{"model", "cnn"}, {"conv_dist", "trained"}, {"rule", "fa_noise"}}},
    {"cnn_torch_maxpool_nobias", {{"model", "cnn"}, {"conv_dist", "pytorch"}, {"init", "pytorch"}, {"fc_pool", "2"},
                                  {"fc_pool_mode", "max"}, {"conv_bias", "false"}, {"rule", "bp"}, {"lr", "1e-2"}}},
    {"cnn_trained_maxpool_nobias", {{"model", "cnn"}, {"conv_dist", "trained"}, {"fc_pool", "3"}, {"fc_pool_mode", "max"},
                                    {"conv_bias", "false"}, {"rule", "fa"}, {"lr", "5e-3"}}},
    {"lc_bp_instant", {{"model", "lc"}, {"lc_channels", "4,4"}, {"lc_size", "3"}, {"sleep", "instant"},
                       {"sleep_every", "3"}, {"rule", "bp"}, {"lr", "1e-2"}}},
    {"lc_fa_dynamic_map", {{"model", "lc"}, {"lc_channels", "4"}, {"sleep", "dynamic"}, {"sleep_share", "map"},
                           {"sleep_every", "4"}, {"sleep_steps", "5"}, {"sleep_batch", "16"}, {"rule", "fa"}, {"lr", "1e-2"}}},
    {"lc_conv_fa_nopool", {{"model", "lc_conv"}, {"lc_channels", "4,4"}, {"lc_size", "3"}, {"lc_pool", "none"},
                           {"rule", "fa"}}},
    {"lc_shared_init_bp", {{"model", "lc"}, {"lc_channels", "4,6"}, {"lc_init", "shared"}, {"lc_init_eps", "0.1"},
                           {"rule", "bp"}}},
    {"rbse", {{"model", "rbse"}, {"rbm_train_size", "2000"}, {"rbm_epochs", "5"}, {"rbm_hidden", "64"}, {"rbm_lr", "0.1"},
              {"rbse_samples", "3"}, {"release_init", "0.9"}, {"release_lr_scale", "10"}, {"lr", "1e-2"}}},
    {"rbm_pcd2", {{"model", "rbm"}, {"rbm_train_size", "1000"}, {"rbm_epochs", "3"}, {"rbm_hidden", "64"}, {"cd_k", "2"},
                  {"persistent", "true"}, {"rbm_batch_size", "20"}, {"lr", "1e-2"}}},
    {"pixels_bernoulli", {{"model", "pixels"}, {"binarize", "bernoulli"}, {"rbse_samples", "3"}}},
};
/* every golden job must end at least this far above chance (10 classes: 0.1) */
#define MIN_GOLDEN_ACC 0.3
#define N_GOLDEN ((int)(sizeof JOBS / sizeof JOBS[0]))
#define G_EPOCHS 3

static int run_golden(const Golden *g, const RawSplit *tr, const RawSplit *te, double out[2 * G_EPOCHS + 1]) {
    JobSpec s;
    char err[256];
    jobspec_defaults(&s);
    const char *common[][2] = {{"train_per_class", "100"}, {"test_size", "300"}, {"epochs", "3"}, {"hidden", "32"},
                               {"lr", "2e-3"}, {"batch_size", "16"}, {"noise_examples", "256"}, {"noise_lr", "1e-3"},
                               {"conv_kernels", "6"}, {"seed", "7"}};
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) jobspec_set(&s, common[i][0], common[i][1], err, sizeof err);
    for (int i = 0; i < 10 && g->kv[i][0]; i++)
        if (jobspec_set(&s, g->kv[i][0], g->kv[i][1], err, sizeof err)) return -1;
    JobResult r;
    job_result_init(&r, 0);
    int st = train_job(&s, tr, te, NULL, 0, &r);
    for (int e = 0; e < G_EPOCHS; e++) {
        out[e] = r.curves[CURVE_TRAIN_LOSS * G_EPOCHS + e];
        out[G_EPOCHS + e] = r.curves[CURVE_TEST_LOSS * G_EPOCHS + e];
    }
    out[2 * G_EPOCHS] = r.m.test_acc;
    job_result_free(&r);
    return st == STATUS_OK ? 0 : -1;
}

static void test_golden(const char *path, int write) {
    const char *dir = getenv("SYNSWEEP_DATA");
    RawSplit tr, te;
    char err[512];
    if (!dir || dataset_load(dir, "mnist", "train", &tr, err, sizeof err) ||
        dataset_load(dir, "mnist", "test", &te, err, sizeof err)) {
        CHECK(0, "golden values need MNIST under $SYNSWEEP_DATA");
        return;
    }
    FILE *fp = fopen(path, write ? "w" : "r");
    CHECK(fp != NULL, "cannot open %s", path);
    if (!fp) return;
    if (write) fprintf(fp, "# job: train_loss[1..%d] test_loss[1..%d] test_acc (C99 hex floats, OPENBLAS_CORETYPE=Haswell), "
                       "then test_acc in decimal\n", G_EPOCHS, G_EPOCHS);
    char line[1024];
    if (!write && !fgets(line, sizeof line, fp)) line[0] = 0; /* the comment */
    for (int k = 0; k < N_GOLDEN; k++) {
        double got[2 * G_EPOCHS + 1];
        CHECK(run_golden(&JOBS[k], &tr, &te, got) == 0, "%s runs", JOBS[k].name);
        CHECK(got[2 * G_EPOCHS] >= MIN_GOLDEN_ACC, "%s learns: test_acc %.3f, want >= %.2f", JOBS[k].name,
              got[2 * G_EPOCHS], MIN_GOLDEN_ACC);
        if (write) {
            fprintf(fp, "%s", JOBS[k].name);
            for (int i = 0; i < 2 * G_EPOCHS + 1; i++) fprintf(fp, " %a", got[i]);
            fprintf(fp, "  # test_acc %.3f\n", got[2 * G_EPOCHS]);
            continue;
        }
        char name[64];
        double want[2 * G_EPOCHS + 1];
        int n = fgets(line, sizeof line, fp) ? sscanf(line, "%63s %la %la %la %la %la %la %la", name, &want[0], &want[1],
                                                       &want[2], &want[3], &want[4], &want[5], &want[6]) : 0;
        CHECK(n == 2 * G_EPOCHS + 2 && !strcmp(name, JOBS[k].name), "%s: line %d of %s", JOBS[k].name, k + 2, path);
        int same = n == 2 * G_EPOCHS + 2;
        for (int i = 0; same && i < 2 * G_EPOCHS + 1; i++) same = got[i] == want[i];
        CHECK(same, "%s: losses %.9g %.9g %.9g / test %.9g %.9g %.9g, acc %.6g; golden %.9g %.9g %.9g / %.9g %.9g %.9g, %.6g",
              JOBS[k].name, got[0], got[1], got[2], got[3], got[4], got[5], got[6], want[0], want[1], want[2], want[3],
              want[4], want[5], want[6]);
    }
    fclose(fp);
    raw_split_free(&tr), raw_split_free(&te);
}

/* model_kind_register refuses, with the tables unchanged, what would break them (run before
 * anything reads a table: the first read closes registration). */
static void test_register_refusals(void) {
    static const ParamDef p = {"x_param", PK_INT, 0, 4, "0", NULL, 0, 1, "x", "model=x_kind"};
    static const MetricDef m = {"x_metric", 0, "x"};
    ModelKind k = *MODEL_KINDS[0];
    k.name = "mlp";
    CHECK(model_kind_register(&k) == -1 && strstr(model_registry_error(), "taken"), "a taken name: %s", model_registry_error());
    k.name = "x_kind", k.params = &p, k.n_params = 1;
    CHECK(model_kind_register(&k) == -1 && strstr(model_registry_error(), "ext"), "parameters without spec_ext: %s",
          model_registry_error());
    k.spec_ext = JOBSPEC_EXT_BYTES + 8;
    CHECK(model_kind_register(&k) == -1 && strstr(model_registry_error(), "full"), "JobSpec.ext overflow: %s",
          model_registry_error());
    k.spec_ext = 4, k.metrics = &m, k.n_metrics = 1, k.metrics_ext = 0;
    CHECK(model_kind_register(&k) == -1, "metrics without metrics_ext: %s", model_registry_error());
    CHECK(!param_find("x_param") && !model_kind_find("x_kind"), "refused kinds leave no rows");
    k.metrics_ext = 1;
    CHECK(model_kind_register(&k) == -1 && strstr(model_registry_error(), "closed"), "registration closed after a read: %s",
          model_registry_error());
}

int main(int argc, char **argv) {
    test_register_refusals();
    test_tables();
    test_tensors();
    if (argc == 3 && !strcmp(argv[1], "--write")) test_golden(argv[2], 1);
    else if (argc == 2) test_golden(argv[1], 0);
    else {
        fprintf(stderr, "usage: test_model GOLDEN_FILE | --write GOLDEN_FILE\n");
        return 2;
    }
    return test_report("test_model");
}
