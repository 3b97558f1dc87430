// swift-tools-version:6.0
// The target list is the architecture (docs/architecture.md). Linux only (libzmq, clone, pidfd, epoll):
//   CZeroMQ (libzmq from Debian) → ZeroMQ (thin wrapper, the socket thread); ProcWire (the messages,
//   generated from ProcWireSchema) → ProcCore (the domain and the machines, no I/O)
//   → ProcCoordinator, ProcAgent (+ CSpawn), ProcClient, ProcFunctions → Proc (the seed-style API) → executables.
import PackageDescription

let package = Package(
    name: "proc",
    products: [
        .library(name: "Proc", targets: ["Proc"]),
        .library(name: "ProcClient", targets: ["ProcClient"]),
        .library(name: "ProcFunctions", targets: ["ProcFunctions"]),
        .executable(name: "proc-coordinator", targets: ["proc-coordinator"]),
        .executable(name: "proc-agent", targets: ["proc-agent"]),
        .executable(name: "proc", targets: ["proc"]),
        .executable(name: "check-proc", targets: ["check-proc"]),
        .executable(name: "proc-example-functions", targets: ["proc-example-functions"]),
        .executable(name: "proc-bench", targets: ["proc-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", exact: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", exact: "0.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", exact: "0.2.0"),
    ],
    targets: [
        // libzmq, as Debian ships it (libzmq3-dev).
        .systemLibrary(name: "CZeroMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        // Sockets, frames, and the one thread per process that owns them.
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        // posix_spawn with a new session, a clean signal mask and fd 3 (the agent only).
        .target(name: "CSpawn"),
        // The wire schema: every message declared once, and the generator of ProcWire/Generated and
        // docs/wire.md from it (`swift run proc-wire-gen`). Not linked into anything else.
        .target(name: "ProcWireSchema"),
        .executableTarget(name: "proc-wire-gen", dependencies: ["ProcWireSchema"]),
        // Messages on the wire and on disk (generated), their JSON reader and writer, the protocol's
        // frames and the ranges of numbers. No I/O.
        .target(name: "ProcWire"),
        // Jobs, the scheduler and the protocol's state machines. No I/O.
        .target(name: "ProcCore", dependencies: ["ProcWire", .product(name: "Collections", package: "swift-collections")]),
        // The little of Linux every role needs: a data directory owned by one process, files read with
        // errors in words.
        .target(name: "ProcSystem"),
        // The coordinator: queue, scheduler, journal (SQLite WAL), ROUTER + PUB.
        .target(
            name: "ProcCoordinator",
            dependencies: [
                "ProcCore", "ProcSystem", "ZeroMQ",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The agent: slots, labels, a subprocess per job.
        .target(
            name: "ProcAgent",
            dependencies: [
                "ProcCore", "ProcSystem", "ZeroMQ", "CSpawn", .product(name: "Logging", package: "swift-log"),
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Functions as jobs: the `ProcFunction` protocol and the function host a user's executable runs
        // (`ProcFunctionHost.main`). Light on purpose: it is linked into every host.
        .target(name: "ProcFunctions", dependencies: ["ProcWire", .product(name: "Logging", package: "swift-log")]),
        // Requests and the event feed, for the CLI, the library and any Swift program.
        .target(name: "ProcClient", dependencies: ["ProcCore", "ZeroMQ"]),
        // The original module's API in Swift: workers, queues, callbacks, events.
        .target(name: "Proc", dependencies: [
            "ProcClient", "ProcCoordinator", "ProcAgent", "ProcCore", "ProcFunctions", "ProcWire", "ZeroMQ",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // What the three executables share: config files (TOML), endpoints, logging, services.
        .target(
            name: "ProcCommandSupport",
            dependencies: [
                "ProcCore", "ProcClient", "ProcSystem", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .executableTarget(
            name: "proc-coordinator",
            dependencies: [
                "Proc", "ProcCoordinator", "ProcAgent", "ProcCommandSupport", "ProcCore", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "proc-agent",
            dependencies: [
                "ProcAgent", "ProcCommandSupport", "ProcCore", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "proc",
            dependencies: [
                "ProcClient", "ProcCommandSupport", "ProcCore", "ProcSystem", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "check-proc",
            dependencies: ["Proc", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "examples/check-proc"
        ),
        // A function host with the functions the tests, the benchmark and the README use.
        .executableTarget(name: "proc-example-functions", dependencies: ["ProcFunctions"], path: "examples/functions"),
        // The benchmark: proc against a posix_spawn floor in the same process.
        .executableTarget(
            name: "proc-bench",
            dependencies: [
                "Proc", "ProcClient", "ProcCore", "CSpawn", "ProcCommandSupport", "ProcTestSupport", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // What tests, fuzzers and the bench speak the protocol with: frames from the generated types.
        .target(name: "ProcTestSupport", dependencies: ["ProcWire", "ZeroMQ"], path: "Tests/ProcTestSupport"),
        .testTarget(name: "ProcWireTests", dependencies: ["ProcWire", "ProcWireSchema", "ProcCore"]),
        .testTarget(name: "ProcCoreTests", dependencies: ["ProcCore"]),
        .testTarget(name: "ProcSystemTests", dependencies: ["ProcSystem"]),
        .testTarget(name: "ProcCommandSupportTests", dependencies: ["ProcCommandSupport"]),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
        .testTarget(name: "ProcAgentTests", dependencies: ["ProcAgent", "CSpawn"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["ProcClient", "ProcCore", "ProcCoordinator", "ZeroMQ", "Proc", "CSpawn", "ProcTestSupport"]
        ),
    ]
)
