// The device key in the Secure Enclave: generated there, used there,
// never exported.
import Foundation
import Security

/// A P-256 signing key in the Secure Enclave, found by its application
/// tag and created on first use. `publicKey()` is the X9.63 (SEC1
/// uncompressed, 65 bytes) point and `sign(message:)` returns
/// `ecdsaSignatureMessageX962SHA256` signatures (DER): the encodings the
/// core expects, so nothing is converted. Each key is one device to the
/// server: deleting it means registering again.
///
/// `@unchecked Sendable`: the only state is a `SecKey`, which Security
/// documents as safe to use from any thread.
public final class SecureEnclaveDeviceKey: DeviceKey, @unchecked Sendable {
    private let key: SecKey

    public init(tag: String = "ee.kaksik.device-key") throws {
        let tagData = Data(tag.utf8)
        let query: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrApplicationTag as String: tagData,
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecReturnRef as String: true,
        ]
        var found: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &found)
        if status == errSecSuccess, let found {
            key = found as! SecKey  // the query asked for a key reference
            return
        }
        guard status == errSecItemNotFound else {
            throw PlatformError.Failed(reason: "Keychain lookup of the device key: OSStatus \(status)")
        }
        var error: Unmanaged<CFError>?
        // Usable while the device is unlocked, never leaves it, never
        // backed up.
        guard
            let access = SecAccessControlCreateWithFlags(
                nil, kSecAttrAccessibleWhenUnlockedThisDeviceOnly, .privateKeyUsage, &error)
        else {
            throw PlatformError.Failed(reason: "access control: \(Self.describe(error))")
        }
        let attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecAttrTokenID as String: kSecAttrTokenIDSecureEnclave,
            kSecPrivateKeyAttrs as String: [
                kSecAttrIsPermanent as String: true,
                kSecAttrApplicationTag as String: tagData,
                kSecAttrAccessControl as String: access,
            ],
        ]
        guard let created = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            throw PlatformError.Failed(reason: "Secure Enclave key creation: \(Self.describe(error))")
        }
        key = created
    }

    public func publicKey() throws -> Data {
        var error: Unmanaged<CFError>?
        guard let publicKey = SecKeyCopyPublicKey(key),
            let bytes = SecKeyCopyExternalRepresentation(publicKey, &error)
        else {
            throw PlatformError.Failed(reason: "device public key: \(Self.describe(error))")
        }
        return bytes as Data
    }

    public func sign(message: Data) throws -> Data {
        var error: Unmanaged<CFError>?
        guard
            let signature = SecKeyCreateSignature(
                key, .ecdsaSignatureMessageX962SHA256, message as CFData, &error)
        else {
            throw PlatformError.Failed(reason: "Secure Enclave signature: \(Self.describe(error))")
        }
        return signature as Data
    }

    private static func describe(_ error: Unmanaged<CFError>?) -> String {
        guard let error = error?.takeRetainedValue() else { return "unknown error" }
        return "\(CFErrorGetDomain(error) as String) \(CFErrorGetCode(error))"
    }
}
