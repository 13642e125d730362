// The core's log events in the unified log, and the pieces put together.
import Foundation
import os

/// Forwards the core's events to `os_log` (subsystem `ee.kaksik`). The
/// core's events carry no secrets, so they are logged as public.
public final class OSLogSink: LogSink, Sendable {
    private let logger = Logger(subsystem: "ee.kaksik", category: "core")

    public init() {}

    public func log(level: LogLevel, target: String, message: String) throws {
        let type: OSLogType
        switch level {
        case .error: type = .error
        case .warn: type = .default
        case .info: type = .info
        case .debug, .trace: type = .debug
        }
        logger.log(level: type, "\(target, privacy: .public): \(message, privacy: .public)")
    }
}

public enum Kaksik {
    /// The authenticator of this app's one account home, over the Secure
    /// Enclave device key and the Keychain store. Make one and keep it;
    /// its flows are `async`.
    public static func authenticator(
        serverUrl: String, spkiPin: String, logLevel: LogLevel = .info
    ) throws -> Authenticator {
        try setLogSink(sink: OSLogSink(), maxLevel: logLevel)
        return try Authenticator(
            config: ClientConfig(serverUrl: serverUrl, tlsSpkiPin: spkiPin, requestTimeoutSeconds: 30),
            store: KeychainSecureStore(),
            deviceKey: try SecureEnclaveDeviceKey())
    }
}
