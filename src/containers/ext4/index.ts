/**
 * The ext4 container (ext2/3/4 images): the registered reader. The folder holds the reader and the modules it
 * alone uses; other code imports the reader from here.
 */
export { ext4 } from './ext4.js';
