// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "tpudeploy",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tpudeploy", targets: ["tpudeploy"]),
        .executable(name: "tpudeploy-bench", targets: ["tpudeploy-bench"]),
        .library(name: "TPUDeployKit", targets: ["TPUDeployKit"]),
        .library(name: "TPUDeploySimulator", targets: ["TPUDeploySimulator"]),
        // The resident inference engine of the boards and the simulated runtime that stands in for libsophon.
        .executable(name: "tpu-llm-engine", targets: ["tpu-llm-engine"]),
        .library(name: "TPUSimRuntime", type: .dynamic, targets: ["TPUSimRuntime"]),
        // The boards' relay for fleet distribution: receives a file, forwards it to the next board, verifies it.
        .executable(name: "tpu-relay-agent", targets: ["tpu-relay-agent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C libraries from Debian, each reached through exactly one Swift wrapper in TPUDeployKit.
        .systemLibrary(
            name: "CLibSSH",
            pkgConfig: "libssh",
            providers: [.apt(["libssh-dev"])]
        ),
        .systemLibrary(
            name: "CLibFDT",
            providers: [.apt(["libfdt-dev"])]
        ),
        .systemLibrary(
            name: "CLibCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev", "zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CSentencePiece",
            pkgConfig: "sentencepiece",
            providers: [.apt(["libsentencepiece-dev"])]
        ),
        // No pkgConfig: its -D flags are ones SwiftPM refuses; TPULLMEngine defines them and links the library.
        .systemLibrary(
            name: "CHTTPLib",
            providers: [.apt(["libcpp-httplib-dev"])]
        ),
        // Our declarations of the libsophon calls the engine uses, and the dlopen loader that fills them.
        .target(
            name: "TPURuntimeAPI",
            linkerSettings: [.linkedLibrary("dl")]
        ),
        // Stands in for libsophon (libbmlib.so + libbmrt.so) where there is no BM1684X: runs sim models on the CPU.
        .target(
            name: "TPUSimRuntime",
            dependencies: ["TPURuntimeAPI"],
            // Optimised in debug builds too: the trained model (SmolLM2-135M, docs/smollm2.md) is 135M
            // multiply-adds per token, which unoptimised loops run ten times slower.
            cxxSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.unsafeFlags(["-static-stdlib"])]
        ),
        // The engine: nets, tokenizers, prompt formats, decode loop, sampler, HTTP server (C++17).
        .target(
            name: "TPULLMEngine",
            dependencies: ["TPURuntimeAPI", "CSentencePiece", "CHTTPLib"],
            // Debian's libcpp-httplib is built with these; SwiftPM drops them from its pkg-config flags, and the
            // header's class layouts depend on them. (The aarch64 build compiles httplib header-only without them.)
            cxxSettings: [.define("CPPHTTPLIB_OPENSSL_SUPPORT"), .define("CPPHTTPLIB_ZLIB_SUPPORT"), .define("CPPHTTPLIB_BROTLI_SUPPORT")],
            linkerSettings: [.linkedLibrary("cpp-httplib"), .linkedLibrary("pthread")]
        ),
        .executableTarget(
            name: "tpu-llm-engine",
            dependencies: ["TPULLMEngine"],
            // Pure C++: drop the Swift runtime the linker driver adds, so the engine runs where Swift is absent
            // (a simulated board sees no /opt/swift).
            linkerSettings: [.unsafeFlags(["-static-stdlib"])]
        ),
        // The relay agent of fleet distribution (Distribution/), run on the boards: plain C and glibc only, so
        // that `make cross` builds it beside the engine and a simulated board runs the native build.
        .executableTarget(
            name: "tpu-relay-agent",
            linkerSettings: [.unsafeFlags(["-static-stdlib"])]
        ),
        // All logic: SSH, device trees, FIT images, memory layouts, inspection, profiles.
        .target(
            name: "TPUDeployKit",
            dependencies: [
                "CLibSSH",
                "CLibFDT",
                "CLibCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            // The shell scripts run on boards (board-scripts/), each taking its values as arguments.
            resources: [.copy("Resources")]
        ),
        // Simulated BM1684X boards built from real parts (sshd, namespaces, U-Boot tools).
        .target(
            name: "TPUDeploySimulator",
            dependencies: ["TPUDeployKit"],
            resources: [.copy("Resources")]
        ),
        // Thin command-line front end.
        .executableTarget(
            name: "tpudeploy",
            dependencies: [
                "TPUDeployKit",
                "TPUDeploySimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `make bench`: speed goals measured against real baselines, results written to a file.
        .executableTarget(
            name: "tpudeploy-bench",
            dependencies: ["TPUDeployKit", "TPUDeploySimulator"],
            // The Ansible playbook the fleet bench runs, read from the source tree (make bench runs from there).
            exclude: ["ansible"]
        ),
        .testTarget(
            name: "TPUDeployKitTests",
            dependencies: ["TPUDeployKit", "TPUDeploySimulator"]
        ),
        // The engine, the simulated runtime and the sim models, against independent references.
        .testTarget(
            name: "EngineTests",
            dependencies: ["TPURuntimeAPI", "TPUDeployKit"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["TPUDeployKit", "TPUDeploySimulator"]
        ),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
