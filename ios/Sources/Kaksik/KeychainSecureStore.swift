// The SecureStore over the Keychain.
import Foundation
import Security

/// One generic-password item per store key, in `service`. Items are
/// `AfterFirstUnlockThisDeviceOnly`: readable by background refreshes
/// after the first unlock, never in backups or on another device (a
/// restored copy would be a clone to the server). Each `SecItemUpdate` /
/// `SecItemAdd` replaces an item whole, which is the atomic write the
/// core asks for.
public final class KeychainSecureStore: SecureStore, Sendable {
    private let service: String

    public init(service: String = "ee.kaksik.store") {
        self.service = service
    }

    private func query(_ key: String) -> [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: key,
        ]
    }

    public func get(key: String) throws -> Data? {
        var lookup = query(key)
        lookup[kSecReturnData as String] = true
        lookup[kSecMatchLimit as String] = kSecMatchLimitOne
        var result: CFTypeRef?
        let status = SecItemCopyMatching(lookup as CFDictionary, &result)
        switch status {
        case errSecSuccess:
            guard let data = result as? Data else {
                throw PlatformError.Failed(reason: "Keychain read of \(key): not data")
            }
            return data
        case errSecItemNotFound:
            return nil
        default:
            throw PlatformError.Failed(reason: "Keychain read of \(key): OSStatus \(status)")
        }
    }

    public func put(key: String, value: Data) throws {
        let update: [String: Any] = [kSecValueData as String: value]
        var status = SecItemUpdate(query(key) as CFDictionary, update as CFDictionary)
        if status == errSecItemNotFound {
            var item = query(key)
            item[kSecValueData as String] = value
            item[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
            status = SecItemAdd(item as CFDictionary, nil)
        }
        guard status == errSecSuccess else {
            throw PlatformError.Failed(reason: "Keychain write of \(key): OSStatus \(status)")
        }
    }

    public func delete(key: String) throws {
        let status = SecItemDelete(query(key) as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw PlatformError.Failed(reason: "Keychain delete of \(key): OSStatus \(status)")
        }
    }
}
