//! barge's build: one static library (engine + journal), the `barge`
//! command, unit test programs hung off the `test` step.
//!   zig build                       Debug (UBSan traps on)
//!   zig build -Doptimize=ReleaseFast
//!   zig build test                  unit tests
const std = @import("std");
const builtin = @import("builtin");

const zig_version = "0.13.0";

const c_flags = [_][]const u8{
    "-std=c11",
    "-D_GNU_SOURCE",
    "-Wall",
    "-Wextra",
    "-Wshadow",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-Wformat=2",
    "-Wvla",
    "-Wpointer-arith",
    "-Wno-gnu-zero-variadic-macro-arguments",
    "-Werror",
};

const engine_sources = [_][]const u8{
    "engine/util.c",
    "engine/run.c",
    "engine/lister.c",
    "engine/esc.c",
    "engine/ring.c",
    "engine/http.c",
    "engine/sigv4.c",
    "engine/codec.c",
    "engine/xml.c",
    "engine/config.c",
    "engine/pool.c",
    "engine/plan.c",
    "engine/cksum.c",
    "engine/md5.c",
    "engine/s3.c",
    "engine/copy.c",
    "engine/copy_state.c",
    "engine/copy_bw.c",
    "engine/copy_obj.c",
    "engine/copy_ctl.c",
    "engine/copy_resume.c",
    "engine/copy_list.c",
    "engine/copy_xfer.c",
    "engine/copy_md5.c",
    "engine/copy_local.c",
    "engine/local.c",
    "engine/metrics.c",
    "engine/bwlimit.c",
    "engine/audit.c",
    "engine/bench.c",
    "journal/journal.c",
    "journal/status.c",
    "journal/ident.c",
};

const system_libs = [_][]const u8{ "curl", "uring", "ssl", "crypto", "xxhash", "expat", "inih", "sqlite3" };

const unit_tests = [_][]const u8{ "http", "sigv4", "xml", "config", "plan", "pool", "cksum", "md5", "util", "journal", "audit", "metrics", "bwlimit", "local", "esc", "codec", "cli", "s3", "run", "lister" };

const synth_sources = [_][]const u8{
    "bench/synth/main.c",
    "bench/synth/net.c",
    "bench/synth/s3.c",
    "bench/synth/list.c",
    "bench/synth/gen.c",
    "bench/synth/relay.c",
};

/// Zig 0.13 (LLVM 18) detects some AVX-512 CPUs (AMD Zen 4 and 5 among
/// them) as having avx512f without evex512, the feature LLVM 18 split
/// out of it; xxhash.h's AVX-512 path then fails to compile.  Every CPU
/// with avx512f has 512-bit vectors, so the feature is added back.
fn withEvex512(b: *std.Build, t: std.Build.ResolvedTarget) std.Build.ResolvedTarget {
    const x86 = std.Target.x86;
    const f = t.result.cpu.features;
    if (t.result.cpu.arch != .x86_64 or !x86.featureSetHas(f, .avx512f) or x86.featureSetHas(f, .evex512))
        return t;
    var q = t.query;
    q.cpu_features_add.addFeature(@intFromEnum(x86.Feature.evex512));
    return b.resolveTargetQuery(q);
}

pub fn build(b: *std.Build) void {
    if (!std.mem.eql(u8, builtin.zig_version_string, zig_version)) {
        std.debug.panic("barge pins Zig {s}; this is {s}: pip install ziglang=={s}", .{ zig_version, builtin.zig_version_string, zig_version });
    }
    const target = withEvex512(b, b.standardTargetOptions(.{}));
    const optimize = b.standardOptimizeOption(.{});

    const lib = b.addStaticLibrary(.{ .name = "barge", .target = target, .optimize = optimize });
    lib.addCSourceFiles(.{ .files = &engine_sources, .flags = &c_flags });
    lib.addIncludePath(b.path("engine"));
    lib.addIncludePath(b.path("journal"));
    lib.linkLibC();
    for (system_libs) |l| lib.linkSystemLibrary(l);

    const exe = b.addExecutable(.{ .name = "barge", .target = target, .optimize = optimize });
    exe.addCSourceFiles(.{ .files = &.{ "tools/barge.c", "tools/progress.c", "tools/metrics_out.c", "tools/audit_cmd.c", "tools/bench_cmd.c", "tools/cmdutil.c", "tools/cli.c", "tools/ls_cmd.c", "tools/plan_cmd.c", "tools/doctor_cmd.c" }, .flags = &c_flags });
    exe.addIncludePath(b.path("engine"));
    exe.addIncludePath(b.path("journal"));
    exe.addIncludePath(b.path("tools"));
    exe.linkLibrary(lib);
    exe.linkLibC();
    for (system_libs) |l| exe.linkSystemLibrary(l);
    b.installArtifact(exe);

    const test_step = b.step("test", "Run the unit tests");
    // The rules a compiler does not check (banned functions, what journal/
    // may include): tools/checksrc.sh.
    const checksrc = b.addSystemCommand(&.{ "bash", "tools/checksrc.sh" });
    checksrc.setCwd(b.path("."));
    checksrc.expectExitCode(0);
    checksrc.has_side_effects = true; // reads the tree: run every time
    test_step.dependOn(&checksrc.step);
    for (unit_tests) |name| {
        const t = b.addExecutable(.{
            .name = b.fmt("test_{s}", .{name}),
            .target = target,
            .optimize = optimize,
        });
        t.addCSourceFile(.{ .file = b.path(b.fmt("tests/unit/test_{s}.c", .{name})), .flags = &c_flags });
        t.addIncludePath(b.path("engine"));
        t.addIncludePath(b.path("journal"));
        t.addIncludePath(b.path("tests/unit"));
        t.linkLibrary(lib);
        t.linkLibC();
        for (system_libs) |l| t.linkSystemLibrary(l);
        b.installArtifact(t);
        const run = b.addRunArtifact(t);
        run.expectExitCode(0);
        test_step.dependOn(&run.step);
    }

    // libjfault.so: the LD_PRELOAD shim that fails journal writes on
    // demand, for the schedule explorer (tests/explore/, docs/faults.md).
    const jfault = b.addSharedLibrary(.{ .name = "jfault", .target = target, .optimize = optimize });
    jfault.addCSourceFile(.{ .file = b.path("tests/explore/jfault.c"), .flags = &c_flags });
    jfault.linkLibC();
    jfault.linkSystemLibrary("dl");
    b.installArtifact(jfault);

    // barge-synth: the synthetic S3 endpoint and the bare relay of the
    // benchmarks (bench/synth/, docs/bench.md).  Uses the library's util.c.
    const synth = b.addExecutable(.{ .name = "barge-synth", .target = target, .optimize = optimize });
    synth.addCSourceFiles(.{ .files = &synth_sources, .flags = &c_flags });
    synth.addIncludePath(b.path("bench/synth"));
    synth.addIncludePath(b.path("engine"));
    synth.linkLibrary(lib);
    synth.linkLibC();
    for (system_libs) |l| synth.linkSystemLibrary(l);
    b.installArtifact(synth);
}
