/**
 * The ota-payload container (Android A/B OTA payloads (payload.bin)): the registered reader. The folder holds the reader and the modules it
 * alone uses; other code imports the reader from here.
 */
export { otaPayload } from './ota-payload.js';
