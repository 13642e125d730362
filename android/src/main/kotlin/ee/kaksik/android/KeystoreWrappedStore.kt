// The SecureStore: one file per key in the app's no-backup directory,
// each value sealed with an AES-256-GCM key of the Android Keystore and
// written atomically.
package ee.kaksik.android

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.AtomicFile
import ee.kaksik.PlatformException
import ee.kaksik.SecureStore
import java.io.File
import java.io.FileNotFoundException
import java.io.IOException
import java.security.GeneralSecurityException
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * Why seal again: the core's secret values are sealed already (the PIN
 * gate), but the account record and the sealed shares are then also
 * bound to this device's Keystore, so a copied app directory is useless
 * elsewhere. The store key is the AEAD's associated data, so a value
 * cannot be moved to another key. The directory is excluded from backups
 * (`noBackupFilesDir`): a restored copy would be a clone to the server.
 */
class KeystoreWrappedStore(context: Context, private val wrapAlias: String = DEFAULT_WRAP_ALIAS) : SecureStore {
    private val dir = File(context.noBackupFilesDir, "kaksik").apply { mkdirs() }
    private val keyStore: KeyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }
    private val wrapKey: SecretKey by lazy { (keyStore.getKey(wrapAlias, null) as SecretKey?) ?: generateWrapKey() }

    private fun generateWrapKey(): SecretKey =
        KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE).run {
            init(
                KeyGenParameterSpec.Builder(wrapAlias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                    .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                    .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                    .setKeySize(256)
                    .build(),
            )
            generateKey()
        }

    override fun get(key: String): ByteArray? =
        guarded("read", key) {
            val sealed =
                try {
                    AtomicFile(File(dir, key)).readFully()
                } catch (e: FileNotFoundException) {
                    return@guarded null
                }
            require(sealed.size > IV_LEN) { "short value" }
            Cipher.getInstance(TRANSFORMATION).run {
                init(Cipher.DECRYPT_MODE, wrapKey, GCMParameterSpec(TAG_BITS, sealed, 0, IV_LEN))
                updateAAD(key.toByteArray())
                doFinal(sealed, IV_LEN, sealed.size - IV_LEN)
            }
        }

    override fun put(key: String, value: ByteArray) {
        guarded("write", key) {
            val cipher = Cipher.getInstance(TRANSFORMATION).apply {
                // The Keystore picks the IV: callers may not choose one.
                init(Cipher.ENCRYPT_MODE, wrapKey)
                updateAAD(key.toByteArray())
            }
            val sealed = cipher.iv + cipher.doFinal(value)
            val file = AtomicFile(File(dir, key))
            val out = file.startWrite()
            try {
                out.write(sealed)
                // finishWrite syncs the file before the rename.
                file.finishWrite(out)
            } catch (e: IOException) {
                file.failWrite(out)
                throw e
            }
        }
    }

    override fun delete(key: String) {
        guarded("delete", key) { AtomicFile(File(dir, key)).delete() }
    }

    private inline fun <T> guarded(operation: String, key: String, body: () -> T): T =
        try {
            body()
        } catch (e: IOException) {
            throw PlatformException.Failed("cannot $operation $key: ${e.javaClass.simpleName}")
        } catch (e: GeneralSecurityException) {
            throw PlatformException.Failed("cannot $operation $key: Keystore ${e.javaClass.simpleName}")
        } catch (e: IllegalArgumentException) {
            throw PlatformException.Failed("cannot $operation $key: ${e.message}")
        }

    companion object {
        const val DEFAULT_WRAP_ALIAS = "kaksik-store-wrap"
        private const val ANDROID_KEYSTORE = "AndroidKeyStore"
        private const val TRANSFORMATION = "AES/GCM/NoPadding"
        private const val IV_LEN = 12
        private const val TAG_BITS = 128
    }
}
