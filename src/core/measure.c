/*
 * measure.c: what a job measures of its model (measure.h). The geometry is the FC head's,
 * which every model kind has (ModelKind.head).
 */
#include "measure.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "metrics.h"

EvalStats evaluate_probe(Model *md, const Split *s, Probe *pr) {
    EvalStats e = {0};
    const Mlp *m = md->kind->head(md);
    int C = s->n_classes, B = md->max_batch, L = m->n_layers;
    long correct = 0;
    double loss = 0.0, pt = 0.0, pt2 = 0.0, pm = 0.0;
    md->no_grad = 1;
    for (int i = 0; i < s->n; i += B) {
        int b = s->n - i < B ? s->n - i : B;
        if (s->sp && md->sparse_input) md->in = (SparseBatch){s->sp, NULL, i};
        loss += md->kind->forward(md, s->x + (size_t)i * s->d, s->y + i, b, s->features, &correct) * b;
        md->in.sp = NULL;
        for (int r = 0; r < b; r++) {
            const float *p = m->probs + (size_t)r * C;
            double t = p[s->y[i + r]], mx = p[0];
            for (int c = 1; c < C; c++) mx = p[c] > mx ? p[c] : mx;
            pt += t, pt2 += t * t, pm += mx;
        }
        for (int l = 0; pr && l < L - 1; l++) {
            int H = m->sizes[l + 1];
            const float *a = m->act[l + 1];
            /* G <- A^T A + G over this batch's rows */
            if (pr->gram[l]) sgemm(1, 0, H, H, b, 1.0f, a, a, 1.0f, pr->gram[l]);
            if (pr->alive) {
                char *al = pr->alive;
                for (int k = 1; k <= l; k++) al += m->sizes[k];
                for (size_t j = 0; j < (size_t)b * H; j++)
                    if (a[j] > 0.0f) al[j % H] = 1;
            }
        }
    }
    md->no_grad = 0;
    double n = s->n ? s->n : NAN;
    e.loss = loss / n;
    e.acc = correct / n;
    e.p_true_mean = pt / n;
    e.p_true_std = sqrt(fmax(pt2 / n - e.p_true_mean * e.p_true_mean, 0.0));
    e.p_max_mean = pm / n;
    return e;
}

EvalStats evaluate(Model *md, const Split *s) { return evaluate_probe(md, s, NULL); }

void layer_angles(const Mlp *m, float out[MLP_MAX_LAYERS]) {
    for (int l = 0; l < MLP_MAX_LAYERS; l++)
        out[l] = l < m->n_layers && m->rule == RULE_FA && m->F[l]
                 ? (float)angle_deg(m->W[l], m->F[l], (size_t)m->sizes[l + 1] * m->sizes[l]) : NAN;
}

/*
 * Gram-matrix effective rank of each hidden layer's features (docs/SCIENCE.md section 2) from the
 * summed A^T A of an evaluation pass: G_jk = <a_j, a_k> / (|a_j| |a_k|) over the layer's
 * units j, k (a_j = unit j's outputs on every row), silent units left out; out[l] for weight
 * layer l's output.
 */
void gram_eranks(const Mlp *m, float *const *gram, double out[MLP_MAX_LAYERS]) {
    for (int l = 0; l < m->n_layers - 1; l++) {
        int H = m->sizes[l + 1], k = 0;
        const float *G = gram[l];
        int *keep = malloc((size_t)H * sizeof(int));
        float *Gc = malloc((size_t)H * H * sizeof(float));
        if (G && keep && Gc) {
            for (int j = 0; j < H; j++)
                if (G[(size_t)j * H + j] > 0.0f) keep[k++] = j;
            for (int a = 0; a < k; a++)
                for (int c = 0; c < k; c++) {
                    double na = G[(size_t)keep[a] * H + keep[a]], nc = G[(size_t)keep[c] * H + keep[c]];
                    Gc[(size_t)a * k + c] = (float)(G[(size_t)keep[a] * H + keep[c]] / sqrt(na * nc));
                }
            out[l] = k ? effective_rank(Gc, k, k) : NAN;
        }
        free(keep), free(Gc);
    }
}

/*
 * Meta-loss (docs/SCIENCE.md section 2): for each task, from the current weights, meta_steps
 * Adam steps at meta_lr on minibatches of the task's training split (drawn by the seed),
 * then the loss on its first meta_test_size test images; the mean over tasks. The weights
 * and the optimiser's state are restored afterwards. Images get the job's scaling.
 */
double meta_loss(Model *md, const JobSpec *spec, Scaling sc, const TaskData *tasks,
                        int n_tasks, float *xbuf, uint8_t *ybuf) {
    if (n_tasks == 0) return NAN;
    int B = spec->batch_size, K = spec->meta_steps;
    size_t np = (size_t)md->tensors.n_params, nf = (size_t)md->tensors.n_fixed;
    double sum = 0.0;
    /* the learned weights, and the fixed tensors training may move (BatchNorm's running
     * statistics), restored after each task */
    float *keep = malloc((np + nf) * sizeof(float));
    Optim keep_o = md->opt, inner = {0};
    if (!keep) return NAN;
    memcpy(keep, md->params, np * sizeof(float));
    if (nf) memcpy(keep + np, md->fixed, nf * sizeof(float));
    for (int t = 0; t < n_tasks; t++) {
        const RawSplit *tr = tasks[t].train, *te = tasks[t].test;
        int *idx = malloc((size_t)tr->n * sizeof(int));
        Split st = {0}, se = {0};
        char err[128];
        int n = idx ? subset_choose(tr, 0, K * B, (uint64_t)spec->seed * 31 + (uint64_t)t + 1, idx, err, sizeof err) : -1;
        int ok = n > 0 && !split_make(&st, tr, idx, n, sc) &&
                 !split_make(&se, te, NULL, spec->meta_test_size < te->n ? spec->meta_test_size : te->n, sc) &&
                 !optim_create(&inner, OPT_ADAM, np, (float)spec->meta_lr, 0.9f, 0.999f, 1e-8f, 0, 0);
        if (ok) {
            md->opt = inner;
            for (int k = 0; k < K; k++) { /* the inner steps' own losses are not reported */
                int lo = (k * B) % n, b = n - lo < B ? n - lo : B;
                memcpy(xbuf, st.x + (size_t)lo * st.d, (size_t)b * st.d * sizeof(float));
                memcpy(ybuf, st.y + lo, (size_t)b);
                (void)model_step(md, xbuf, ybuf, b, 0);
            }
            sum += evaluate(md, &se).loss;
            md->opt = keep_o;
        }
        optim_free(&inner);
        split_free(&st), split_free(&se);
        free(idx);
        memcpy(md->params, keep, np * sizeof(float));
        if (nf) memcpy(md->fixed, keep + np, nf * sizeof(float));
        if (!ok) {
            free(keep);
            return NAN;
        }
    }
    free(keep);
    return sum / n_tasks;
}

/* The test-set readout at a stage before the final one. */
void stage_readout(Model *md, const Split *te, JobMetrics *m, int stage) {
    EvalStats e = evaluate(md, te);
    m->stage_test_loss[stage] = e.loss, m->stage_test_acc[stage] = e.acc;
    m->stage_p_true_mean[stage] = e.p_true_mean, m->stage_p_max_mean[stage] = e.p_max_mean;
}

/* Per-layer geometry of the FC head at one stage: angle W vs feedback (fa only), erank. */
void layer_metrics(const Mlp *m, double out[N_LAYER_METRICS][MLP_MAX_LAYERS]) {
    for (int l = 0; l < m->n_layers; l++) {
        int O = m->sizes[l + 1], I = m->sizes[l];
        if (m->rule == RULE_FA && m->F[l]) {
            out[LM_ANGLE][l] = angle_deg(m->W[l], m->F[l], (size_t)O * I);
            row_angles(m->W[l], m->F[l], O, I, &out[LM_ANGLE_NEURON_MEAN][l],
                       &out[LM_ANGLE_NEURON_STD][l]);
        }
        out[LM_ERANK][l] = effective_rank(m->W[l], O, I);
    }
}

/*
 * The first learned tensor (trained by the optimiser or by a phase of the kind's own) holding
 * a NaN or an infinity, or NULL. The loss alone does not show divergence: a ReLU turns a NaN
 * input into 0, so a network whose weights are partly NaN can still report a finite loss
 * (issue 16: an LC dynamic sleep left 57,600 of 78,400 weights NaN at test_acc 0.15). A
 * non-finite weight stays non-finite under every later step (w - lr g, Adam, averaging), so a
 * check after each phase and each epoch sees any step's.
 */
const char *nonfinite_tensor(const Model *md) {
    for (int k = 0; k < md->tensors.n; k++) {
        const Tensor *t = &md->tensors.t[k];
        if (!t->learned) continue;
        const float *v = (t->fixed ? md->fixed : md->params) + t->offset;
        int64_t n = tensor_numel(t);
        /* x * 0 is NaN exactly when x is NaN or infinite; 16 independent sums, so that the
         * compiler keeps them in one vector (one sum in order ran at an add's latency) */
        float acc[16] = {0};
        int64_t i = 0;
        for (; i + 16 <= n; i += 16)
            for (int j = 0; j < 16; j++) acc[j] += v[i + j] * 0.0f;
        for (; i < n; i++) acc[0] += v[i] * 0.0f;
        for (int j = 1; j < 16; j++) acc[0] += acc[j];
        if (acc[0] != 0.0f) return t->name;
    }
    return NULL;
}

