// swift-tools-version:5.9
// The Kaksik Swift package: the Rust core as an XCFramework
// (build-xcframework.sh), its generated Swift bindings, and the platform
// pieces (Secure Enclave device key, Keychain store, os_log sink).
import PackageDescription

let package = Package(
    name: "Kaksik",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "Kaksik", targets: ["Kaksik"]),
    ],
    targets: [
        // The static library and the C module `KaksikFFIFFI` of the
        // generated bindings (SwiftPM wants the artefact named as the
        // target, and the module map names the module the same).
        .binaryTarget(name: "KaksikFFIFFI", path: "KaksikFFIFFI.xcframework"),
        .target(
            name: "Kaksik",
            dependencies: ["KaksikFFIFFI"],
            path: "Sources/Kaksik"
        ),
    ]
)
