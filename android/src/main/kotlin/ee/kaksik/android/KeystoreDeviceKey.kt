// The device key in the Android Keystore: generated there, used there,
// never exported. StrongBox when the phone has one.
package ee.kaksik.android

import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import ee.kaksik.DeviceKey
import ee.kaksik.PlatformException
import java.math.BigInteger
import java.security.GeneralSecurityException
import java.security.KeyPairGenerator
import java.security.KeyStore
import java.security.PrivateKey
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec

/**
 * A P-256 signing key under [alias] in the Android Keystore, created on
 * first use. [publicKey] is the SEC1 uncompressed point and [sign] returns
 * `SHA256withECDSA` signatures (DER): the encodings the core expects, so
 * nothing is converted. Each key is one device to the server: deleting
 * the alias means registering again.
 */
class KeystoreDeviceKey(private val alias: String = DEFAULT_ALIAS) : DeviceKey {
    private val keyStore: KeyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }

    init {
        if (!keyStore.containsAlias(alias)) {
            try {
                generate(strongBox = true)
            } catch (e: StrongBoxUnavailableException) {
                generate(strongBox = false)
            }
        }
    }

    private fun generate(strongBox: Boolean) {
        val spec =
            KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_SIGN)
                .setAlgorithmParameterSpec(ECGenParameterSpec("secp256r1"))
                .setDigests(KeyProperties.DIGEST_SHA256)
                .setIsStrongBoxBacked(strongBox)
                .build()
        KeyPairGenerator.getInstance(KeyProperties.KEY_ALGORITHM_EC, ANDROID_KEYSTORE).run {
            initialize(spec)
            generateKeyPair()
        }
    }

    override fun publicKey(): ByteArray =
        keystoreCall {
            val point = (keyStore.getCertificate(alias).publicKey as ECPublicKey).w
            byteArrayOf(0x04) + fixed32(point.affineX) + fixed32(point.affineY)
        }

    override fun sign(message: ByteArray): ByteArray =
        keystoreCall {
            val key = keyStore.getKey(alias, null) as PrivateKey
            Signature.getInstance("SHA256withECDSA").run {
                initSign(key)
                update(message)
                sign()
            }
        }

    /** Keystore failures as the typed error the core maps to `DeviceKey`. */
    private inline fun <T> keystoreCall(call: () -> T): T =
        try {
            call()
        } catch (e: KeyPermanentlyInvalidatedException) {
            throw PlatformException.Failed("the device key was invalidated; register again")
        } catch (e: GeneralSecurityException) {
            throw PlatformException.Failed("Android Keystore: ${e.javaClass.simpleName}")
        }

    companion object {
        const val DEFAULT_ALIAS = "kaksik-device-key"
        private const val ANDROID_KEYSTORE = "AndroidKeyStore"

        private fun fixed32(value: BigInteger): ByteArray {
            val bytes = value.toByteArray().dropWhile { it == 0.toByte() }.toByteArray()
            return ByteArray(32 - bytes.size) + bytes
        }
    }
}
