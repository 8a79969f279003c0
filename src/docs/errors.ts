/** Errors of the document layer: typed, with a message naming the cause. Nothing was changed when one is thrown. */
import { DdcpError } from '../base/errors.ts';

/** Base class of document errors. */
export class DocumentError extends DdcpError {
  override name = 'DocumentError';
}

/** A JSON Patch or Merge Patch can't be applied: malformed, bad path, failed `test`, wrong type. */
export class PatchError extends DocumentError {
  override name = 'PatchError';
  /** The index of the failing operation in the patch (undefined for a malformed patch as a whole). */
  readonly index: number | undefined;
  constructor(message: string, index?: number) {
    super(index === undefined ? message : `patch operation ${index}: ${message}`);
    this.index = index;
  }
}

/** A document content isn't a JSON object (or holds values JSON can't represent). */
export class InvalidDocumentError extends DocumentError {
  override name = 'InvalidDocumentError';
}

/** No such (live) document. */
export class DocumentNotFoundError extends DocumentError {
  override name = 'DocumentNotFoundError';
  constructor(collection: string, id: string) {
    super(`no document ${id} in collection ${collection}`);
  }
}

/** A document with this id already exists (create). */
export class DocumentExistsError extends DocumentError {
  override name = 'DocumentExistsError';
  constructor(collection: string, id: string) {
    super(`document ${id} already exists in collection ${collection}`);
  }
}

/** `undo` found no local change of the document left to undo. */
export class NothingToUndoError extends DocumentError {
  override name = 'NothingToUndoError';
  constructor(collection: string, id: string) {
    super(`no local change of document ${id} in collection ${collection} to undo`);
  }
}
