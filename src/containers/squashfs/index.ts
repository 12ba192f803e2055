/**
 * The squashfs container (squashfs 4.0 images): the registered reader. The folder holds the reader and the modules it
 * alone uses; other code imports the reader from here.
 */
export { squashfs } from './squashfs.js';
