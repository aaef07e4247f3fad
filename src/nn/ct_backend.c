/* ct_backend.c - devices and the loader of the CUDA plugin (see ct_backend.h). */
#include "ct_backend.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#ifdef CT_HAVE_CUDA
#include <dlfcn.h>
#endif

#define PLUGIN_NAME "crystens-cuda.so"

static const ct_cuda_api *cuda_api;
static int cuda_tried;              /* 1 once loading was attempted */
static ct_error cuda_failure;       /* why it failed, when cuda_api is NULL */
static char plugin_dir[PATH_MAX];

void ct_backend_set_plugin_dir(const char *dir)
{
    snprintf(plugin_dir, sizeof plugin_dir, "%s", dir ? dir : "");
}

const char *ct_device_name(int device)
{
    return device == CT_DEV_CUDA ? "cuda" : "cpu";
}

int ct_device_parse(const char *s, int *device, ct_error *err)
{
    if (strcmp(s, "cpu") == 0) {
        *device = CT_DEV_CPU;
        return CT_OK;
    }
    if (strcmp(s, "cuda") == 0 || strcmp(s, "cuda:0") == 0 || strcmp(s, "gpu") == 0) {
        *device = CT_DEV_CUDA;
        return CT_OK;
    }
    return ct_fail(err, CT_EINVAL, "unknown device '%s' (expected \"cpu\" or \"cuda\"; one GPU: "
                   "cuda:0)", s);
}

const ct_cuda_api *ct_cuda_loaded(void)
{
    return cuda_api;
}

#ifdef CT_HAVE_CUDA
/* dlopen path, or NULL with *why set to the loader's message. */
static void *try_open(const char *path, char *why, size_t size)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(why, size, "%.480s", e ? e : path);
    }
    return h;
}

/* Open the plugin from the places ct_backend.h lists; NULL with err. */
static void *open_plugin(ct_error *err)
{
    char path[PATH_MAX + 32], why[512] = "", tried[1024] = "";
    const char *env = getenv("CRYSTENS_CUDA_PLUGIN");
    if (env && *env) {
        void *h = try_open(env, why, sizeof why);
        if (!h)
            ct_fail(err, CT_EIO, "the CUDA plugin cannot be loaded: %s (from "
                    "$CRYSTENS_CUDA_PLUGIN)", why);
        return h;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char *dirs[2] = {NULL, plugin_dir[0] ? plugin_dir : NULL};
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            dirs[0] = exe;
        }
    }
    for (int i = 0; i < 2; i++) {
        if (!dirs[i]) continue;
        snprintf(path, sizeof path, "%s/%s", dirs[i], PLUGIN_NAME);
        if (access(path, F_OK) != 0) {
            size_t used = strlen(tried);
            snprintf(tried + used, sizeof tried - used, "%s%.480s", used ? ", " : "", path);
            continue;
        }
        void *h = try_open(path, why, sizeof why);
        if (!h)
            ct_fail(err, CT_EIO, "the CUDA plugin cannot be loaded: %s (is the CUDA "
                    "runtime's lib64 on LD_LIBRARY_PATH?)", why);
        return h;
    }
    ct_fail(err, CT_EIO, "the CUDA plugin %s was not found (looked for %s; set "
            "CRYSTENS_CUDA_PLUGIN to its path)", PLUGIN_NAME, tried[0] ? tried : "nothing");
    return NULL;
}

static const ct_cuda_api *load(ct_error *err)
{
    /* The driver first: without it the plugin would load and fail later
       with a less telling "CUDA driver version is insufficient". */
    void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!drv) {
        ct_fail(err, CT_EIO, "no NVIDIA driver: libcuda.so.1 cannot be loaded (no GPU on this "
                "machine, or the driver is not installed)");
        return NULL;
    }
    dlclose(drv);
    void *h = open_plugin(err);
    if (!h) return NULL;
    ct_cuda_plugin_fn entry;
    *(void **)&entry = dlsym(h, CT_CUDA_PLUGIN_SYMBOL);
    if (!entry) {
        ct_fail(err, CT_EIO, "the CUDA plugin has no %s: not a crystens plugin",
                CT_CUDA_PLUGIN_SYMBOL);
        dlclose(h);
        return NULL;
    }
    const ct_cuda_api *api = NULL;
    if (entry(CT_CUDA_ABI, &api, err) != CT_OK) {
        /* The plugin stays loaded: the CUDA runtime does not support
           being unloaded once initialised. */
        return NULL;
    }
    return api;
}
#endif

const ct_cuda_api *ct_cuda(ct_error *err)
{
    if (cuda_api) return cuda_api;
    if (!cuda_tried) {
        cuda_tried = 1;
#ifdef CT_HAVE_CUDA
        cuda_api = load(&cuda_failure);
#else
        ct_fail(&cuda_failure, CT_EINVAL, "crystens was built without CUDA (configure it with "
                "--with-cuda to use a GPU)");
#endif
    }
    if (!cuda_api && err) *err = cuda_failure;
    return cuda_api;
}
