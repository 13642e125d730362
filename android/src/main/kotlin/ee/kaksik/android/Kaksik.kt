// The Android pieces put together, and the core's log events in Logcat.
package ee.kaksik.android

import android.content.Context
import android.util.Log
import ee.kaksik.Authenticator
import ee.kaksik.ClientConfig
import ee.kaksik.LogLevel
import ee.kaksik.LogSink
import ee.kaksik.setLogSink

/** Forwards the core's events to Logcat under the tag `Kaksik`. */
class LogcatSink : LogSink {
    override fun log(level: LogLevel, target: String, message: String) {
        val priority =
            when (level) {
                LogLevel.ERROR -> Log.ERROR
                LogLevel.WARN -> Log.WARN
                LogLevel.INFO -> Log.INFO
                LogLevel.DEBUG -> Log.DEBUG
                LogLevel.TRACE -> Log.VERBOSE
            }
        Log.println(priority, TAG, "$target: $message")
    }

    private companion object {
        const val TAG = "Kaksik"
    }
}

object Kaksik {
    /**
     * The authenticator of this app's one account home, over the
     * Keystore device key and the Keystore-wrapped store. Make one and
     * keep it; its flows are suspend functions (run them off the main
     * thread's dispatcher as any I/O).
     */
    fun authenticator(context: Context, serverUrl: String, spkiPin: String, logLevel: LogLevel = LogLevel.INFO): Authenticator {
        setLogSink(LogcatSink(), logLevel)
        return Authenticator(
            ClientConfig(serverUrl = serverUrl, tlsSpkiPin = spkiPin),
            KeystoreWrappedStore(context.applicationContext),
            KeystoreDeviceKey(),
        )
    }
}
