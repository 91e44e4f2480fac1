#include <cstring>
#include "dnnl_conv.h"
#include <oneapi/dnnl/dnnl.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

// libgomp, which oneDNN runs its threads on (Debian builds it with the OpenMP runtime).
extern "C" void omp_set_num_threads(int);

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

struct repro_conv_plan {
    engine eng{engine::kind::cpu, 0};
    memory::desc x_user, w_user, y_user, b_user;
    convolution_forward::primitive_desc fwd_pd;
    convolution_forward fwd;
    // Backward primitives are built on first use: a frozen or first layer never needs them.
    std::once_flag bwd_data_once, bwd_weights_once;
    convolution_backward_data::primitive_desc bwd_data_pd;
    convolution_backward_data bwd_data;
    convolution_backward_weights::primitive_desc bwd_weights_pd;
    convolution_backward_weights bwd_weights;
    memory::dims strides, pad, dil;
    int threads = 1;
    std::string impl, bwd_data_impl, bwd_weights_impl;
};

namespace {
std::mutex cache_lock;
std::map<std::string, std::unique_ptr<repro_conv_plan>> cache;

tag plain(int rank) { return rank == 1 ? tag::ncw : (rank == 2 ? tag::nchw : tag::ncdhw); }
tag plainWeights(int rank) { return rank == 1 ? tag::oiw : (rank == 2 ? tag::oihw : tag::oidhw); }

memory::desc anyLike(const memory::desc &d) { return memory::desc(d.dims(), dt::f32, tag::any); }

// Runs `prim` with its arguments in the layouts `pd` wants: inputs are reordered from the user's plain buffers
// where they differ, and outputs reordered back.
struct Call {
    engine &eng;
    stream s;
    std::unordered_map<int, memory> args;
    std::vector<std::pair<memory, memory>> outputs;  // (internal, user)
    explicit Call(engine &e) : eng(e), s(e) {}
    void input(int arg, const memory::desc &want, const memory::desc &user, const float *p) {
        memory u(user, eng, const_cast<float *>(p));
        if (want == user) { args.insert({arg, u}); return; }
        memory m(want, eng);
        reorder(u, m).execute(s, u, m);
        args.insert({arg, m});
    }
    void output(int arg, const memory::desc &want, const memory::desc &user, float *p) {
        memory u(user, eng, p);
        if (want == user) { args.insert({arg, u}); return; }
        memory m(want, eng);
        args.insert({arg, m});
        outputs.push_back({m, u});
    }
    // The scratchpad is the call's own (scratchpad_mode::user), so that parts of a batch can run the same plan on
    // several threads at once whatever oneDNN's build does with its shared scratchpad.
    void run(primitive &prim, const memory::desc &scratch) {
        memory pad(scratch, eng);
        args.insert({DNNL_ARG_SCRATCHPAD, pad});
        prim.execute(s, args);
        for (auto &o : outputs) reorder(o.first, o.second).execute(s, o.first, o.second);
        s.wait();
    }
};

primitive_attr userScratchpad() {
    primitive_attr a;
    a.set_scratchpad_mode(scratchpad_mode::user);
    return a;
}

template <class F> int guarded(F f) {
    try { f(); return 0; } catch (const dnnl::error &e) {
        std::fprintf(stderr, "oneDNN convolution failed: %s (status %d)\n", e.what(), (int)e.status);
        return 1;
    }
}

// Backward primitives are built on first use (a frozen or first layer never needs them); the caller has set the
// plan's thread count, which oneDNN fixes when it creates a primitive.
void ensureBackwardData(repro_conv_plan *p) {
    std::call_once(p->bwd_data_once, [&] {
        auto d = convolution_backward_data::desc(algorithm::convolution_direct, anyLike(p->x_user), anyLike(p->w_user),
                                                 anyLike(p->y_user), p->strides, p->dil, p->pad, p->pad);
        p->bwd_data_pd = convolution_backward_data::primitive_desc(d, userScratchpad(), p->eng, p->fwd_pd);
        p->bwd_data = convolution_backward_data(p->bwd_data_pd);
        p->bwd_data_impl = p->bwd_data_pd.impl_info_str();
    });
}

void ensureBackwardWeights(repro_conv_plan *p) {
    std::call_once(p->bwd_weights_once, [&] {
        auto d = convolution_backward_weights::desc(algorithm::convolution_direct, anyLike(p->x_user),
                                                    anyLike(p->w_user), anyLike(p->y_user), p->strides, p->dil,
                                                    p->pad, p->pad);
        p->bwd_weights_pd = convolution_backward_weights::primitive_desc(d, userScratchpad(), p->eng, p->fwd_pd);
        p->bwd_weights = convolution_backward_weights(p->bwd_weights_pd);
        p->bwd_weights_impl = p->bwd_weights_pd.impl_info_str();
    });
}
}  // namespace

extern "C" repro_conv_plan *repro_conv_plan_get(int rank, int batch, int cin, int cout, const int *image,
                                                const int *kernel, const int *stride, const int *padding,
                                                const int *dilation, int has_bias, int threads) {
    std::string key = std::to_string(threads) + "|" + std::to_string(rank) + "|" + std::to_string(batch) + "|" + std::to_string(cin) + "|" +
                      std::to_string(cout) + "|" + std::to_string(has_bias);
    for (int a = 0; a < rank; a++)
        key += "|" + std::to_string(image[a]) + "," + std::to_string(kernel[a]) + "," + std::to_string(stride[a]) +
               "," + std::to_string(padding[a]) + "," + std::to_string(dilation[a]);
    std::lock_guard<std::mutex> g(cache_lock);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second.get();
    repro_conv_plan *made = nullptr;
    try {
        auto p = std::make_unique<repro_conv_plan>();
        p->threads = threads;
        omp_set_num_threads(threads);
        memory::dims xd{batch, cin}, wd{cout, cin}, yd{batch, cout};
        for (int a = 0; a < rank; a++) {
            int reach = dilation[a] * (kernel[a] - 1) + 1;
            xd.push_back(image[a]);
            wd.push_back(kernel[a]);
            yd.push_back((image[a] + 2 * padding[a] - reach) / stride[a] + 1);
            p->strides.push_back(stride[a]);
            p->pad.push_back(padding[a]);
            p->dil.push_back(dilation[a] - 1);  // oneDNN counts dilation from 0
        }
        p->x_user = memory::desc(xd, dt::f32, plain(rank));
        p->w_user = memory::desc(wd, dt::f32, plainWeights(rank));
        p->y_user = memory::desc(yd, dt::f32, plain(rank));
        p->b_user = has_bias ? memory::desc({cout}, dt::f32, tag::x) : memory::desc();
        auto d = convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct,
                                           anyLike(p->x_user), anyLike(p->w_user), p->b_user, anyLike(p->y_user),
                                           p->strides, p->dil, p->pad, p->pad);
        p->fwd_pd = convolution_forward::primitive_desc(d, userScratchpad(), p->eng);
        p->fwd = convolution_forward(p->fwd_pd);
        p->impl = p->fwd_pd.impl_info_str();
        made = p.get();
        cache.emplace(key, std::move(p));
    } catch (const dnnl::error &) {
        cache.emplace(key, nullptr);
    }
    return made;
}

extern "C" const char *repro_conv_plan_impl(repro_conv_plan *plan, int direction) {
    if (direction == 0) return plan->impl.c_str();
    const char *failed = "none";
    guarded([&] {
        omp_set_num_threads(plan->threads);
        if (direction == 1) ensureBackwardData(plan); else ensureBackwardWeights(plan);
        failed = nullptr;
    });
    if (failed) return failed;
    return (direction == 1 ? plan->bwd_data_impl : plan->bwd_weights_impl).c_str();
}

extern "C" int repro_conv_plan_fast(repro_conv_plan *plan, int direction) {
    const char *impl = repro_conv_plan_impl(plan, direction);
    return std::strncmp(impl, "jit", 3) == 0 || std::strncmp(impl, "brg", 3) == 0;
}

extern "C" int repro_conv_forward(repro_conv_plan *p, const float *x, const float *w, const float *b, float *y) {
    return guarded([&] {
        omp_set_num_threads(p->threads);
        Call c(p->eng);
        c.input(DNNL_ARG_SRC, p->fwd_pd.src_desc(), p->x_user, x);
        c.input(DNNL_ARG_WEIGHTS, p->fwd_pd.weights_desc(), p->w_user, w);
        if (b) c.input(DNNL_ARG_BIAS, p->fwd_pd.bias_desc(), p->b_user, b);
        c.output(DNNL_ARG_DST, p->fwd_pd.dst_desc(), p->y_user, y);
        c.run(p->fwd, p->fwd_pd.scratchpad_desc());
    });
}

extern "C" int repro_conv_backward_data(repro_conv_plan *p, const float *dy, const float *w, float *dx) {
    return guarded([&] {
        omp_set_num_threads(p->threads);
        ensureBackwardData(p);
        Call c(p->eng);
        c.input(DNNL_ARG_DIFF_DST, p->bwd_data_pd.diff_dst_desc(), p->y_user, dy);
        c.input(DNNL_ARG_WEIGHTS, p->bwd_data_pd.weights_desc(), p->w_user, w);
        c.output(DNNL_ARG_DIFF_SRC, p->bwd_data_pd.diff_src_desc(), p->x_user, dx);
        c.run(p->bwd_data, p->bwd_data_pd.scratchpad_desc());
    });
}

extern "C" int repro_conv_backward_weights(repro_conv_plan *p, const float *x, const float *dy, float *dw) {
    return guarded([&] {
        omp_set_num_threads(p->threads);
        ensureBackwardWeights(p);
        Call c(p->eng);
        c.input(DNNL_ARG_SRC, p->bwd_weights_pd.src_desc(), p->x_user, x);
        c.input(DNNL_ARG_DIFF_DST, p->bwd_weights_pd.diff_dst_desc(), p->y_user, dy);
        c.output(DNNL_ARG_DIFF_WEIGHTS, p->bwd_weights_pd.diff_weights_desc(), p->w_user, dw);
        c.run(p->bwd_weights, p->bwd_weights_pd.scratchpad_desc());
    });
}

extern "C" const char *repro_dnnl_version(void) {
    static std::string v;
    static std::once_flag once;
    std::call_once(once, [] {
        auto *ver = dnnl_version();
        v = std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." + std::to_string(ver->patch);
    });
    return v.c_str();
}
