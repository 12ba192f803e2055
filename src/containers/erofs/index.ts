/**
 * The erofs container (EROFS images): the registered reader. The folder holds the reader and the modules it
 * alone uses; other code imports the reader from here.
 */
export { erofs } from './erofs.js';
